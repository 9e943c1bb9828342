namespace ModelRouter.Routing.Classification;

/// <summary>How <see cref="TaskClassifier.Load"/> opens a classifier file.</summary>
public sealed record ClassifierLoadOptions
{
    /// <summary>For a GGUF-embedding classifier: the model to use instead of the path stored in the file.</summary>
    public string? GgufPath { get; init; }

    /// <summary>
    /// Touch every page of the mapped weights at load, so the first decisions do not pay page faults (a few
    /// milliseconds at load instead of microseconds spread over the first requests).
    /// </summary>
    public bool Prefault { get; init; }

    public static ClassifierLoadOptions Default { get; } = new();
}
