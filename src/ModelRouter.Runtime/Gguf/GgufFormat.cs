namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// Constants of the GGUF container and the limits this reader enforces against malicious files. The limits are
/// far above anything a real model uses but low enough that a forged count or length cannot make the reader
/// allocate or loop in proportion to a number the file merely claims.
/// </summary>
public static class GgufFormat
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>The version this library writes.</summary>
    public const uint CurrentVersion = 3;

    /// <summary>The oldest version read: v1 used 32-bit counts and lengths and is long gone.</summary>
    public const uint MinimumVersion = 2;

    /// <summary>Alignment of tensor data when <c>general.alignment</c> is absent.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>Key of the optional alignment override (must be a uint32 power of two).</summary>
    public const string AlignmentKey = "general.alignment";

    /// <summary>Dimensions a ggml tensor can have (GGML_MAX_DIMS).</summary>
    public const int MaxDimensions = 4;

    /// <summary>Longest tensor name, in UTF-8 bytes: ggml stores names in a 64-byte buffer with a terminator.</summary>
    public const int MaxTensorNameBytes = 63;

    /// <summary>Longest metadata key, in UTF-8 bytes (the GGUF specification's limit).</summary>
    public const int MaxKeyBytes = 65535;

    /// <summary>
    /// Longest metadata string value, in bytes. Chat templates, the longest real strings, are tens of KiB;
    /// llama.cpp's own cap is 1 GiB.
    /// </summary>
    public const long MaxStringBytes = 64L * 1024 * 1024;

    /// <summary>Most elements in one metadata array (llama.cpp's GGUF_MAX_ARRAY_ELEMENTS).</summary>
    public const long MaxArrayElements = 1L << 30;

    /// <summary>
    /// Deepest nesting of arrays of arrays. Parsing recurses once per level, so this bounds the stack a file can
    /// make us use; llama.cpp itself rejects any nesting.
    /// </summary>
    public const int MaxArrayDepth = 8;

    // Smallest possible encodings, used to bound counts by the bytes that remain in the file.
    internal const int MinKeyValueBytes = 8 + 1 + 4 + 1; // key length, one key byte, type, a one-byte value
    internal const int MinTensorInfoBytes = 8 + 1 + 4 + 4 + 8; // name length, one name byte, n_dims, type, offset
    internal const int StringHeaderBytes = 8;
    internal const int ArrayHeaderBytes = 4 + 8;

    /// <summary>Bytes of one fixed-size value, or 0 for strings and arrays whose size is in the data.</summary>
    public static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>Whether the id is a value type this reader knows.</summary>
    public static bool IsKnown(GgufValueType type) => (uint)type <= (uint)GgufValueType.Float64;

    /// <summary>Fewest bytes one element of this type can take, to bound an array's claimed count.</summary>
    internal static int MinimumSize(GgufValueType type) => type switch
    {
        GgufValueType.String => StringHeaderBytes,
        GgufValueType.Array => ArrayHeaderBytes,
        _ => FixedSize(type),
    };

    /// <summary>Rounds <paramref name="value"/> up to a multiple of the power-of-two <paramref name="alignment"/>.</summary>
    public static long Align(long value, long alignment) => (value + alignment - 1) & ~(alignment - 1);
}
