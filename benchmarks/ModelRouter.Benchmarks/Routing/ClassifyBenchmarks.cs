using BenchmarkDotNet.Attributes;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Evaluation;
using ModelRouter.Routing.Training;

namespace ModelRouter.Benchmarks.Routing;

/// <summary>
/// One routing decision: TaskClassifier.Classify on prompts of about 64 word tokens from dev.jsonl (ns/op and 0 B
/// allocated are the claims). The classifier is MODELROUTER_ROUTER_MODEL when set, else one trained in setup on
/// ../shared/routing-data/train.jsonl with the default settings of train-router.
/// </summary>
[BenchmarkCategory("routing")]
public class ClassifyBenchmarks
{
    private TaskClassifier classifier = null!;
    private string[] prompts = [];
    private readonly float[] scores = new float[256];
    private string? trainedPath;

    /// <summary>Decisions per invocation of <see cref="Classify64Tokens"/> (cycles through distinct prompts).</summary>
    public const int PromptsPerInvoke = 128;

    [GlobalSetup]
    public void Setup()
    {
        var root = RepoRoot();
        var data = Path.GetFullPath(Path.Combine(root, "..", "shared", "routing-data"));
        if (!File.Exists(Path.Combine(data, "dev.jsonl")))
        {
            throw new InvalidOperationException($"{data}/dev.jsonl is absent: the routing benchmark needs ../shared/routing-data beside the checkout.");
        }

        var modelPath = Environment.GetEnvironmentVariable("MODELROUTER_ROUTER_MODEL");
        if (string.IsNullOrEmpty(modelPath))
        {
            var result = RouterTrainer.Train(TrainingSet.Load(Path.Combine(data, "train.jsonl")), new TrainerOptions());
            trainedPath = modelPath = Path.Combine(Path.GetTempPath(), $"mr-bench-router-{Environment.ProcessId}.mrtc");
            ClassifierFileWriter.Write(result.Model, modelPath);
        }

        classifier = TaskClassifier.Load(modelPath, new ClassifierLoadOptions { Prefault = true });
        var dev = TrainingSet.Load(Path.Combine(data, "dev.jsonl"));
        prompts = RouterEvaluation.LatencyPrompts(dev.Examples.Select(e => e.Text)).Take(PromptsPerInvoke).ToArray();
        if (prompts.Length < PromptsPerInvoke)
        {
            prompts = Enumerable.Range(0, PromptsPerInvoke).Select(i => prompts[i % prompts.Length]).ToArray();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        classifier.Dispose();
        if (trainedPath is not null)
        {
            File.Delete(trainedPath);
        }
    }

    /// <summary>The same ~64-token prompt every time (all of its rows stay in cache).</summary>
    [Benchmark(Baseline = true)]
    public int ClassifyOnePrompt() => classifier.Classify(prompts[0], scores).Label;

    /// <summary>128 different ~64-token prompts in turn; the figure is per decision.</summary>
    [Benchmark(OperationsPerInvoke = PromptsPerInvoke)]
    public int Classify64Tokens()
    {
        var sum = 0;
        foreach (var prompt in prompts)
        {
            sum += classifier.Classify(prompt, scores).Label;
        }

        return sum;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModelRouter.Native.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("No ModelRouter.Native.sln above " + AppContext.BaseDirectory);
    }
}
