namespace ModelRouter.Runtime.Gguf;

/// <summary>What the parser found: the validated header, metadata and tensor index of one file.</summary>
internal sealed class GgufLayout(uint version, long kvCount, long tensorCount)
{
    public uint Version { get; } = version;

    public List<GgufMetadataEntry> Metadata { get; } = new((int)Math.Min(kvCount, 4096));

    public Dictionary<string, GgufMetadataEntry> MetadataByKey { get; } = new((int)Math.Min(kvCount, 4096), StringComparer.Ordinal);

    public List<GgufTensorInfo> Tensors { get; } = new((int)Math.Min(tensorCount, 65536));

    public Dictionary<string, GgufTensorInfo> TensorsByName { get; } = new((int)Math.Min(tensorCount, 65536), StringComparer.Ordinal);

    public long Alignment { get; set; } = GgufFormat.DefaultAlignment;

    public long DataOffset { get; set; }

    /// <summary>The first key holding an array of arrays: valid GGUF, but llama.cpp rejects it.</summary>
    public string? FirstNestedArrayKey { get; set; }
}
