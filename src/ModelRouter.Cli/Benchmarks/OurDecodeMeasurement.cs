using System.Diagnostics;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;

namespace ModelRouter.Cli.Benchmarks;

/// <summary>Our side of bench-decode: the runs llama-bench does, through our model, context and batch.</summary>
public sealed class OurDecodeMeasurement : IDisposable
{
    /// <summary>Prompt of the greedy generation row (any vocabulary tokenizes it).</summary>
    public const string GreedyPrompt = "Once upon a time";

    private readonly Model model;
    private readonly BenchDecodeSettings settings;
    private readonly Random random;

    public OurDecodeMeasurement(string modelPath, BenchDecodeSettings settings, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(settings);
        this.settings = settings;
        random = new Random(settings.Seed);
        model = Model.Load(modelPath, new ModelLoadOptions { GpuLayers = settings.GpuLayers, Cancellation = cancellation });
    }

    public Model Model => model;

    /// <summary>pp: warm-up with one full run, then the repetitions, each from an empty cache (as llama-bench).</summary>
    public Throughput PromptProcessing(Action<string> progress)
    {
        using var context = CreateContext(settings.PromptTokens);
        return Repeat(progress, TestNames.Of(settings.PromptTokens, 0), settings.PromptTokens,
            warmUp: () => DecodeBenchmark.ProcessPrompt(context, settings.PromptTokens, random),
            run: () => DecodeBenchmark.ProcessPrompt(context, settings.PromptTokens, random));
    }

    /// <summary>tg: warm-up with one token, then the repetitions of single-token decodes (as llama-bench).</summary>
    public Throughput TokenGeneration(Action<string> progress)
    {
        using var context = CreateContext(settings.GeneratedTokens);
        return Repeat(progress, TestNames.Of(0, settings.GeneratedTokens), settings.GeneratedTokens,
            warmUp: () => DecodeBenchmark.GenerateTokens(context, 1, random),
            run: () => DecodeBenchmark.GenerateTokens(context, settings.GeneratedTokens, random));
    }

    /// <summary>
    /// tg through our batch and, alternating repetition by repetition on the same context, through llama.cpp's calls
    /// made directly as llama-bench makes them: whatever load the machine carries falls on both alike, so the ratio
    /// is what our API costs per token.
    /// </summary>
    public (Throughput Ours, Throughput Direct) InProcessComparison(Action<string> progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var tokens = settings.GeneratedTokens;
        using var context = CreateContext(tokens);
        DecodeBenchmark.GenerateTokens(context, 1, random);
        DecodeBenchmark.GenerateTokensDirect(context, 1, random);
        var ours = new TimeSpan[settings.Repetitions];
        var direct = new TimeSpan[settings.Repetitions];
        for (var i = 0; i < ours.Length; i++)
        {
            progress($"in-process tg{tokens}: ours and direct llama.cpp calls, run {i + 1}/{ours.Length}");
            if (i % 2 == 0)
            {
                ours[i] = DecodeBenchmark.GenerateTokens(context, tokens, random);
                direct[i] = DecodeBenchmark.GenerateTokensDirect(context, tokens, random);
            }
            else
            {
                direct[i] = DecodeBenchmark.GenerateTokensDirect(context, tokens, random);
                ours[i] = DecodeBenchmark.GenerateTokens(context, tokens, random);
            }
        }

        return (Throughput.FromDurations(tokens, ours), Throughput.FromDurations(tokens, direct));
    }

    /// <summary>
    /// tg through <see cref="BatchedGenerator"/> with greedy sampling: what a request costs, sampling and text included.
    /// Times the decode steps after the prompt's; a model that ends early (end of generation) is timed on what it made.
    /// </summary>
    public Throughput GreedyGeneration(Action<string> progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        using var context = CreateContext(settings.GeneratedTokens + 64);
        Greedy(context, 2);
        var rates = new List<double>(settings.Repetitions);
        for (var i = 0; i < settings.Repetitions; i++)
        {
            progress($"ours tg{settings.GeneratedTokens} greedy run {i + 1}/{settings.Repetitions}");
            var (elapsed, decodes) = Greedy(context, settings.GeneratedTokens);
            if (decodes > 0)
            {
                rates.Add(decodes / elapsed.TotalSeconds);
            }
        }

        return rates.Count > 0 ? Throughput.FromRates(rates) : new Throughput(0, 0, [0.0]);
    }

    private static (TimeSpan Elapsed, int Decodes) Greedy(InferenceContext context, int tokens)
    {
        using var generator = new BatchedGenerator(context);
        var sequence = generator.Start(new GenerationRequest(GreedyPrompt) { MaxTokens = tokens + 1, Sampling = SamplingParameters.Greedy });
        generator.Step(); // the prompt, and the first token sampled from it
        var decodes = 0;
        var start = Stopwatch.GetTimestamp();
        while (!sequence.IsFinished)
        {
            generator.Step();
            decodes++;
        }

        return (Stopwatch.GetElapsedTime(start), decodes);
    }

    private InferenceContext CreateContext(int contextLength) => InferenceContext.Create(model, new ContextOptions
    {
        // llama-bench sizes each test's context to exactly its tokens (n_prompt + n_gen).
        ContextLength = contextLength,
        BatchSize = BenchDecodeSettings.LlamaBenchBatchSize,
        MaxSequences = 1,
        Threads = settings.Threads,
        BatchThreads = settings.Threads,
    });

    private Throughput Repeat(Action<string> progress, string test, int tokens, Func<TimeSpan> warmUp, Func<TimeSpan> run)
    {
        ArgumentNullException.ThrowIfNull(progress);
        progress($"ours {test} warm-up");
        warmUp();
        var durations = new TimeSpan[settings.Repetitions];
        for (var i = 0; i < durations.Length; i++)
        {
            progress($"ours {test} run {i + 1}/{durations.Length}");
            durations[i] = run();
        }

        return Throughput.FromDurations(tokens, durations);
    }

    public void Dispose() => model.Dispose();
}
