namespace ModelRouter.Protocol;

/// <summary>An embed request: text to one pooled vector.</summary>
public sealed class EmbedRequest
{
    public required string Text { get; init; }

    /// <summary>The embedding model; null or empty for the server's default embedding model.</summary>
    public string? Model { get; init; }

    /// <summary>L2-normalise the vector.</summary>
    public bool Normalize { get; init; } = true;
}

/// <summary>An embedding (embed-result frame).</summary>
public sealed class EmbeddingResult
{
    public required string Model { get; init; }

    public required float[] Vector { get; init; }

    public int PromptTokens { get; init; }
}
