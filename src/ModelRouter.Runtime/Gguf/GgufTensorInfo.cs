namespace ModelRouter.Runtime.Gguf;

/// <summary>One entry of the tensor index, with its data range resolved to absolute file offsets.</summary>
public sealed class GgufTensorInfo
{
    private readonly long[] dimensions;

    internal GgufTensorInfo(string name, long[] dimensions, GgmlType type, long elementCount, long relativeOffset, long byteSize)
    {
        Name = name;
        this.dimensions = dimensions;
        Type = type;
        ElementCount = elementCount;
        RelativeOffset = relativeOffset;
        ByteSize = byteSize;
    }

    /// <summary>The tensor's name, e.g. <c>blk.0.attn_q.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Sizes per dimension, innermost (ggml's <c>ne[0]</c>, the row length) first.</summary>
    public ReadOnlySpan<long> Dimensions => dimensions;

    /// <summary>The element storage type.</summary>
    public GgmlType Type { get; }

    /// <summary>Product of the dimensions.</summary>
    public long ElementCount { get; }

    /// <summary>Offset of the data from the start of the data section, as stored in the file.</summary>
    public long RelativeOffset { get; }

    /// <summary>Offset of the data from the start of the file.</summary>
    public long AbsoluteOffset { get; private set; }

    /// <summary>Bytes of data, from the type's block traits.</summary>
    public long ByteSize { get; }

    /// <summary>Offset just past the data, from the start of the file.</summary>
    public long AbsoluteEnd => AbsoluteOffset + ByteSize;

    // Set once by the parser when the data section's start is known, before the object is published.
    internal void ResolveAgainst(long dataOffset) => AbsoluteOffset = dataOffset + RelativeOffset;

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Type} [{string.Join(", ", dimensions)}] @{AbsoluteOffset} ({ByteSize} B)";
}
