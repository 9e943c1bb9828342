using ModelRouter.Routing.Features;

namespace ModelRouter.Routing.Classification;

/// <summary>A trained classifier in managed memory: what the trainer produces and <see cref="ClassifierFileWriter"/> writes.</summary>
public sealed class ClassifierModel
{
    public required IReadOnlyList<string> Labels { get; init; }

    public required FeatureSettings Features { get; init; }

    /// <summary>f32[K].</summary>
    public required float[] Bias { get; init; }

    /// <summary>f32[2^HashBits * stride], stride = K rounded up to 8.</summary>
    public required float[] SparseWeights { get; init; }

    /// <summary>f32[K * 2D] (empty without embeddings).</summary>
    public required float[] DenseHead { get; init; }

    /// <summary>Softmax temperature fitted on held-out data (1 = uncalibrated).</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Per-label confidence floor (0 = never unsure).</summary>
    public required float[] Thresholds { get; init; }

    public EmbeddingKind EmbeddingKind { get; init; }

    public int EmbeddingDimensions { get; init; }

    /// <summary>Word hashes of the copied word vectors (kind WordVectors).</summary>
    public ulong[] WordHashes { get; init; } = [];

    /// <summary>The copied word vectors, row-major f32 (kind WordVectors).</summary>
    public float[] WordVectors { get; init; } = [];

    /// <summary>The referenced model (kind Gguf).</summary>
    public string? GgufPath { get; init; }

    public int GgufTokenCount { get; init; }

    public long GgufFileSize { get; init; }

    /// <summary>Informational JSON stored with the model (training settings and held-out figures).</summary>
    public string Metadata { get; init; } = "{}";
}
