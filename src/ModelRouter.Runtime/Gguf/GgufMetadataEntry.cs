namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// One metadata key and where its value lies in the file. Values are not copied at open: typed getters on
/// <see cref="GgufFile"/> read them from the mapping on demand, already bounds-checked by the parser.
/// </summary>
public sealed class GgufMetadataEntry
{
    internal GgufMetadataEntry(string key, GgufValueType type, GgufValueType arrayElementType, long arrayLength, long valueOffset, long valueLength)
    {
        Key = key;
        Type = type;
        ArrayElementType = arrayElementType;
        ArrayLength = arrayLength;
        ValueOffset = valueOffset;
        ValueLength = valueLength;
    }

    /// <summary>The key, e.g. <c>general.architecture</c>.</summary>
    public string Key { get; }

    /// <summary>The value's type; <see cref="GgufValueType.Array"/> for arrays.</summary>
    public GgufValueType Type { get; }

    /// <summary>The element type of an array; meaningless for other types.</summary>
    public GgufValueType ArrayElementType { get; }

    /// <summary>Elements of an array; 1 for scalars and strings.</summary>
    public long ArrayLength { get; }

    /// <summary>
    /// Absolute file offset of the encoded value: the value itself for scalars, the length prefix for strings,
    /// and the first element for arrays (after the element type and count).
    /// </summary>
    public long ValueOffset { get; }

    /// <summary>Encoded bytes from <see cref="ValueOffset"/> (all elements, for arrays).</summary>
    public long ValueLength { get; }

    /// <summary>True when the value is an array.</summary>
    public bool IsArray => Type == GgufValueType.Array;

    /// <inheritdoc />
    public override string ToString() => IsArray ? $"{Key}: {ArrayElementType}[{ArrayLength}]" : $"{Key}: {Type}";
}
