using ModelRouter.Routing.Classification;

namespace ModelRouter.Server.Routing;

/// <summary>The router's trained classifier behind the server's <see cref="ITaskClassifier"/> interface.</summary>
public sealed class ClassifierTaskAdapter(TaskClassifier classifier) : ITaskClassifier
{
    /// <summary>The classifier's routes (a stage-2 head must decide among the same).</summary>
    public IReadOnlyList<string> Labels => classifier.Labels;

    public (string Task, float Confidence, bool Unsure) Classify(string prompt)
    {
        var prediction = classifier.Classify(prompt.AsSpan());
        var threshold = classifier.Thresholds[prediction.Label];
        return (classifier.Labels[prediction.Label], prediction.Confidence, prediction.Confidence <= threshold); // sure only strictly above, as RouteDecider
    }
}

/// <summary>No classifier configured: every routed request is "unsure" and goes to the default model.</summary>
public sealed class NoClassifier : ITaskClassifier
{
    public (string Task, float Confidence, bool Unsure) Classify(string prompt) => ("unknown", 0f, true);
}
