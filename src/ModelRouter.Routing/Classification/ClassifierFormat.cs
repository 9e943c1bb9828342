namespace ModelRouter.Routing.Classification;

/// <summary>
/// Layout of a classifier file (MRTC), little-endian, every section 64-byte aligned so that the mapped file is used
/// in place (floats and 64-bit keys are read through pointers, never copied):
/// <code>
///  0  u32 magic "MRTC"        4  u32 version (4)          8  u32 label count K      12 u32 hash bits
/// 16  u32 feature families   20  u32 max instruction toks 24  u32 max passage toks  28 u32 embedding kind
/// 32  u32 embedding dims D   36  u32 sparse stride S      40  f32 temperature       44 u32 section count
/// 48  16 bytes reserved (0)
///     (version 2 added the feature-family bits 32..256; version 3 changed the token and feature hashes, see
///     WordTokenizer and FeatureHashing: older files are refused with "retrain it")
/// 64  section table: per section u32 id, u32 reserved, u64 offset, u64 length (24 bytes each)
///     sections, each at a 64-byte boundary:
///       Labels      u32 count, then per label u16 byte length + UTF-8
///       Bias        f32[K]
///       Thresholds  f32[K]            (calibrated-confidence floor per label; below it a decision is unsure)
///       Sparse      f32[2^hashBits * S] (hashed rows in score space, S = K rounded up to 8)
///       DenseHead   f32[K * 2D]       (instruction half, then passage half)
///       VectorKeys  u64[C]            (word-vector index, C a power of two; 0 = empty slot)   } embedding kind 1
///       VectorRows  i32[C]                                                                    }
///       Vectors     f32[rows * D]                                                             }
///       Gguf        u32 token count, u32 dims, u64 file size, u16 length + UTF-8 path          } embedding kind 2
///       Metadata    UTF-8 JSON (how it was trained, held-out figures: informational only)
/// </code>
/// </summary>
public static class ClassifierFormat
{
    public const uint Magic = 0x4354524D; // "MRTC"
    public const uint Version = 4;
    public const int HeaderSize = 64;
    public const int SectionEntrySize = 24;
    public const int Alignment = 64;

    internal const int OffsetMagic = 0;
    internal const int OffsetVersion = 4;
    internal const int OffsetLabelCount = 8;
    internal const int OffsetHashBits = 12;
    internal const int OffsetFamilies = 16;
    internal const int OffsetMaxInstructionTokens = 20;
    internal const int OffsetMaxPassageTokens = 24;
    internal const int OffsetEmbeddingKind = 28;
    internal const int OffsetEmbeddingDims = 32;
    internal const int OffsetSparseStride = 36;
    internal const int OffsetTemperature = 40;
    internal const int OffsetSectionCount = 44;

    /// <summary>More labels than this is not a task classifier any more (and keeps stack buffers small).</summary>
    public const int MaxLabels = 256;
}

/// <summary>Where a classifier's pretrained embedding rows come from.</summary>
public enum EmbeddingKind
{
    /// <summary>Hashed n-gram rows only.</summary>
    None = 0,

    /// <summary>Word vectors (GloVe) copied into the classifier file.</summary>
    WordVectors = 1,

    /// <summary>A GGUF model's token embedding table and tokenizer, referenced by path.</summary>
    Gguf = 2,
}

internal enum ClassifierSection
{
    Labels = 1,
    Bias = 2,
    Thresholds = 3,
    Sparse = 4,
    DenseHead = 5,
    VectorKeys = 6,
    VectorRows = 7,
    Vectors = 8,
    Gguf = 9,
    Metadata = 10,
}
