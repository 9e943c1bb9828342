using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Evaluation;

namespace ModelRouter.Routing.Training;

/// <summary>A trained model and how it did on the held-out split that chose its settings.</summary>
public sealed record TrainingResult(
    ClassifierModel Model,
    ClassificationMetrics Holdout,
    int Epochs,
    float Temperature,
    int HoldoutCount,
    TimeSpan Elapsed);
