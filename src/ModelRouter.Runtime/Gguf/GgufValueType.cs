namespace ModelRouter.Runtime.Gguf;

/// <summary>Metadata value types, numbered as in <c>enum gguf_type</c> (ggml/include/gguf.h).</summary>
#pragma warning disable CA1028 // Stored as a 32-bit field in GGUF; uint keeps the cast from the file trivial.
#pragma warning disable CA1720 // The names mirror the GGUF specification's type names.
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}
#pragma warning restore CA1720
#pragma warning restore CA1028
