using ModelRouter.Routing.Encoders;

namespace ModelRouter.Server.Routing;

/// <summary>Stage 2 (sentence encoder and head) behind the server's <see cref="ITaskClassifier"/> interface.</summary>
public sealed class EncoderTaskAdapter(EncoderStage stage) : ITaskClassifier
{
    public (string Task, float Confidence, bool Unsure) Classify(string prompt)
    {
        var (prediction, unsure) = stage.Classify(prompt);
        return (stage.Labels[prediction.Label], prediction.Confidence, unsure);
    }
}
