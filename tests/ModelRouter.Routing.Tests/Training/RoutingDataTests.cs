using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Embeddings;
using ModelRouter.Routing.Evaluation;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Training;

/// <summary>
/// Trains on ../shared/routing-data/train.jsonl with the default settings and checks dev.jsonl. The bound is a guard
/// against regressions well below the measured figure (docs/benchmarks.md), not the target.
/// </summary>
public sealed class RoutingDataTests
{
    [Fact]
    public void TrainsOnTheSharedDataAndHoldsUpOnDev()
    {
        var train = TrainingSet.Load(TestFiles.RequireRoutingData("train.jsonl"));
        var dev = TrainingSet.Load(TestFiles.RequireRoutingData("dev.jsonl"));
        var glovePath = WordVectorFile.Locate(searchFrom: TestFiles.RepoRoot);
        using var glove = glovePath is not null && File.Exists(glovePath) ? WordVectorFile.Open(glovePath) : null;
        var result = RouterTrainer.Train(train, new TrainerOptions { WordVectors = glove });
        using var dir = new TempDirectory();
        ClassifierFileWriter.Write(result.Model, dir.File("router.mrtc"));
        using var classifier = TaskClassifier.Load(dir.File("router.mrtc"));
        var evaluation = RouterEvaluation.Run(classifier, dev, latencyDecisions: 2000);
        Assert.True(evaluation.Metrics.MacroF1 > 0.78, $"dev macro-F1 {evaluation.Metrics.MacroF1:F4}");
        Assert.Equal(0, evaluation.Latency.BytesAllocatedPerDecision);
        Assert.Equal(dev.Examples.Count, evaluation.Metrics.Count);
    }
}
