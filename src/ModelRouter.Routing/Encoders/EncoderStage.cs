using ModelRouter.Routing.Classification;

namespace ModelRouter.Routing.Encoders;

/// <summary>
/// Stage 2 of the cascade: the sentence encoder and its head, asked only about prompts stage 1 is unsure of. A
/// decision is sure when its calibrated confidence exceeds the route's threshold, as in stage 1.
/// </summary>
public sealed class EncoderStage : IDisposable
{
    private readonly SentenceEncoder encoder;
    private readonly bool ownsEncoder;

    public EncoderStage(SentenceEncoder encoder, EncoderHead head, bool ownsEncoder = true)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(head);
        this.encoder = encoder;
        this.ownsEncoder = ownsEncoder;
        Head = head;
    }

    public EncoderHead Head { get; }

    public IReadOnlyList<string> Labels => Head.Labels;

    /// <summary>Loads <c>CLASSIFIER.stage2</c> and the packaged encoder, checked against the stage-1 routes.</summary>
    /// <exception cref="FileNotFoundException">No head file, or the encoder package is not restored.</exception>
    /// <exception cref="InvalidDataException">The head is damaged, of another version, encoder or route set.</exception>
    public static EncoderStage Load(string headPath, IReadOnlyList<string> stage1Routes, int threads = 2)
    {
        var head = EncoderHead.Load(headPath);
        var encoder = new SentenceEncoder(threads, head.MaxTokens);
        try
        {
            head.CheckCompatible(headPath, PackagedModel.EncoderId, encoder.Dimensions, stage1Routes);
            return new EncoderStage(encoder, head);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
    }

    /// <summary>The route, its calibrated confidence, and whether that is at or below the route's threshold.</summary>
    public (Prediction Prediction, bool Unsure) Classify(string text)
    {
        var embedding = new float[encoder.Dimensions];
        encoder.Encode(text, embedding);
        Span<float> probabilities = stackalloc float[Head.Labels.Count];
        var prediction = Head.Predict(embedding, probabilities);
        return (prediction, prediction.Confidence <= Head.Thresholds[prediction.Label]);
    }

    public void Dispose()
    {
        if (ownsEncoder)
        {
            encoder.Dispose();
        }
    }
}
