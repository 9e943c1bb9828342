using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;
using ModelRouter.Routing.Features;

namespace ModelRouter.Routing.Classification;

/// <summary>
/// A classifier file mapped read-only, its header and section table validated against the file's length before any
/// pointer into it is handed out (a truncated or hostile file fails here with the exact problem, not later as a
/// crash).
/// </summary>
internal sealed unsafe class MappedClassifierFile : IDisposable
{
    private readonly MemoryMappedFile map;
    private readonly MemoryMappedViewAccessor view;
    private readonly byte* basePointer;
    private readonly long length;
    private readonly Dictionary<ClassifierSection, (long Offset, long Length)> sections = [];

    private MappedClassifierFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer, long length)
    {
        FilePath = path;
        this.map = map;
        this.view = view;
        this.basePointer = basePointer;
        this.length = length;
        ReadHeader();
    }

    public string FilePath { get; }

    public int LabelCount { get; private set; }

    public FeatureSettings Features { get; private set; } = new();

    public EmbeddingKind EmbeddingKind { get; private set; }

    public int EmbeddingDimensions { get; private set; }

    public int SparseStride { get; private set; }

    public float Temperature { get; private set; }

    public static MappedClassifierFile Open(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"No classifier file at {path} (train one with `modelrouter train-router`).", path);
        }

        if (info.Length < ClassifierFormat.HeaderSize)
        {
            throw Invalid(path, $"{info.Length} bytes is shorter than the {ClassifierFormat.HeaderSize}-byte header");
        }

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        var acquired = false;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            acquired = true;
            return new MappedClassifierFile(path, map, view, pointer + view.PointerOffset, info.Length);
        }
        catch
        {
            if (acquired)
            {
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            }

            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    public bool HasSection(ClassifierSection id) => sections.ContainsKey(id);

    /// <summary>Pointer to a section checked to hold exactly <paramref name="expectedBytes"/> bytes (or at least, when negative).</summary>
    public byte* Section(ClassifierSection id, long expectedBytes)
    {
        if (!sections.TryGetValue(id, out var s))
        {
            throw Invalid(FilePath, $"the {id} section is missing");
        }

        if (expectedBytes >= 0 && s.Length != expectedBytes)
        {
            throw Invalid(FilePath, $"the {id} section holds {s.Length} bytes; {expectedBytes} were expected");
        }

        return basePointer + s.Offset;
    }

    public ReadOnlySpan<byte> SectionBytes(ClassifierSection id)
    {
        if (!sections.TryGetValue(id, out var s))
        {
            throw Invalid(FilePath, $"the {id} section is missing");
        }

        return new ReadOnlySpan<byte>(basePointer + s.Offset, checked((int)s.Length));
    }

    public string[] ReadLabels()
    {
        var data = SectionBytes(ClassifierSection.Labels);
        if (data.Length < 4 || BinaryPrimitives.ReadInt32LittleEndian(data) != LabelCount)
        {
            throw Invalid(FilePath, "the label section does not match the header's label count");
        }

        var labels = new string[LabelCount];
        var cursor = data[4..];
        for (var i = 0; i < labels.Length; i++)
        {
            if (cursor.Length < 2 || cursor.Length < 2 + BinaryPrimitives.ReadUInt16LittleEndian(cursor))
            {
                throw Invalid(FilePath, $"label {i} runs past its section");
            }

            var n = BinaryPrimitives.ReadUInt16LittleEndian(cursor);
            labels[i] = Encoding.UTF8.GetString(cursor.Slice(2, n));
            cursor = cursor[(2 + n)..];
        }

        return labels;
    }

    public static InvalidDataException Invalid(string path, string problem) => new($"{path} is not a valid classifier file: {problem}.");

    public void Dispose()
    {
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        map.Dispose();
    }

    private void ReadHeader()
    {
        var h = new ReadOnlySpan<byte>(basePointer, ClassifierFormat.HeaderSize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(h) != ClassifierFormat.Magic)
        {
            throw Invalid(FilePath, "no MRTC magic at the start");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(h[ClassifierFormat.OffsetVersion..]);
        if (version == 1)
        {
            throw Invalid(FilePath, $"version 1 (written before the position, passage-conjunction, overlap and passage-word feature families), while this build reads version {ClassifierFormat.Version}: retrain it with train-router");
        }

        if (version == 2)
        {
            throw Invalid(FilePath, $"version 2 (written before the token and feature hashes changed), while this build reads version {ClassifierFormat.Version}: retrain it with train-router");
        }

        if (version == 3)
        {
            throw Invalid(FilePath, $"version 3 (written before prompts were split into request and pasted material and the structure features were added), while this build reads version {ClassifierFormat.Version}: retrain it with train-router");
        }

        if (version != ClassifierFormat.Version)
        {
            throw Invalid(FilePath, $"version {version}, while this build reads version {ClassifierFormat.Version} (retrain it)");
        }

        LabelCount = BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetLabelCount..]);
        if (LabelCount is < 2 or > ClassifierFormat.MaxLabels)
        {
            throw Invalid(FilePath, $"label count {LabelCount} is outside 2..{ClassifierFormat.MaxLabels}");
        }

        Features = new FeatureSettings
        {
            HashBits = BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetHashBits..]),
            Families = (FeatureFamilies)BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetFamilies..]),
            MaxInstructionTokens = BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetMaxInstructionTokens..]),
            MaxPassageTokens = BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetMaxPassageTokens..]),
        };
        if ((Features.Families & ~FeatureFamilies.All) != 0)
        {
            throw Invalid(FilePath, $"feature families 0x{(int)Features.Families:X} include bits this build does not know");
        }

        try
        {
            Features.Validate();
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw Invalid(FilePath, ex.Message);
        }

        EmbeddingKind = (EmbeddingKind)BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetEmbeddingKind..]);
        EmbeddingDimensions = BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetEmbeddingDims..]);
        SparseStride = BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetSparseStride..]);
        Temperature = BinaryPrimitives.ReadSingleLittleEndian(h[ClassifierFormat.OffsetTemperature..]);
        if (EmbeddingKind is < EmbeddingKind.None or > EmbeddingKind.Gguf)
        {
            throw Invalid(FilePath, $"unknown embedding kind {(int)EmbeddingKind}");
        }

        if (EmbeddingKind != EmbeddingKind.None ? EmbeddingDimensions is < 1 or > 16384 : EmbeddingDimensions != 0)
        {
            throw Invalid(FilePath, $"embedding dimensions {EmbeddingDimensions} do not fit embedding kind {EmbeddingKind}");
        }

        if (SparseStride != LinearHead.StrideFor(LabelCount))
        {
            throw Invalid(FilePath, $"sparse stride {SparseStride} does not match {LabelCount} labels");
        }

        if (!float.IsFinite(Temperature) || Temperature <= 0)
        {
            throw Invalid(FilePath, $"temperature {Temperature} is not a positive number");
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(h[ClassifierFormat.OffsetSectionCount..]);
        var tableEnd = ClassifierFormat.HeaderSize + ((long)count * ClassifierFormat.SectionEntrySize);
        if (count is < 1 or > 64 || tableEnd > length)
        {
            throw Invalid(FilePath, $"section count {count} does not fit the file");
        }

        var table = new ReadOnlySpan<byte>(basePointer + ClassifierFormat.HeaderSize, (int)(tableEnd - ClassifierFormat.HeaderSize));
        for (var i = 0; i < count; i++)
        {
            var entry = table.Slice(i * ClassifierFormat.SectionEntrySize, ClassifierFormat.SectionEntrySize);
            var id = (ClassifierSection)BinaryPrimitives.ReadInt32LittleEndian(entry);
            var offset = BinaryPrimitives.ReadInt64LittleEndian(entry[8..]);
            var size = BinaryPrimitives.ReadInt64LittleEndian(entry[16..]);
            if (offset < tableEnd || size < 0 || offset > length || size > length - offset || offset % ClassifierFormat.Alignment != 0)
            {
                throw Invalid(FilePath, $"section {(int)id} (offset {offset}, {size} bytes) lies outside the file or is misaligned");
            }

            if (!sections.TryAdd(id, (offset, size)))
            {
                throw Invalid(FilePath, $"section {(int)id} appears twice");
            }
        }
    }
}
