using ModelRouter.Routing.Classification;
using ModelRouter.Server.Routing;

namespace ModelRouter.Cli.Demo;

/// <summary>The router's trained classifier behind the server's <see cref="ITaskClassifier"/> interface.</summary>
internal sealed class ClassifierTaskAdapter(TaskClassifier classifier) : ITaskClassifier
{
    public (string Task, float Confidence, bool Unsure) Classify(string prompt)
    {
        var prediction = classifier.Classify(prompt.AsSpan());
        var threshold = classifier.Thresholds[prediction.Label];
        return (classifier.Labels[prediction.Label], prediction.Confidence, prediction.Confidence <= threshold); // sure only strictly above, as RouteDecider
    }
}

/// <summary>No classifier configured: every routed request is "unsure" and goes to the default model.</summary>
internal sealed class NoClassifier : ITaskClassifier
{
    public (string Task, float Confidence, bool Unsure) Classify(string prompt) => ("unknown", 0f, true);
}
