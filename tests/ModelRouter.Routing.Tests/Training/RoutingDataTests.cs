using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Evaluation;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Training;

/// <summary>
/// Trains on ../shared/routing-data/train.jsonl with the default settings (hashed n-grams, no pretrained rows) and
/// checks dev.jsonl. The bound is a guard
/// against regressions well below the measured figure (docs/benchmarks.md), not the target.
/// </summary>
public sealed class RoutingDataTests
{
    [Fact]
    public void TrainsOnTheSharedDataAndHoldsUpOnDev()
    {
        var train = TrainingSet.Load(TestFiles.RequireRoutingData("train.jsonl"));
        var dev = TrainingSet.Load(TestFiles.RequireRoutingData("dev.jsonl"));
        var result = RouterTrainer.Train(train, new TrainerOptions());
        using var dir = new TempDirectory();
        ClassifierFileWriter.Write(result.Model, dir.File("router.mrtc"));
        using var classifier = TaskClassifier.Load(dir.File("router.mrtc"));
        var evaluation = RouterEvaluation.Run(classifier, dev, latencyDecisions: 2000);
        Assert.True(evaluation.Metrics.MacroF1 > 0.78, $"dev macro-F1 {evaluation.Metrics.MacroF1:F4}");
        Assert.Equal(0, evaluation.Latency.BytesAllocatedPerDecision);
        Assert.Equal(dev.Examples.Count, evaluation.Metrics.Count);
    }
}
