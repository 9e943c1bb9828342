using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using ModelRouter.Routing.Embeddings;

namespace ModelRouter.Routing.Classification;

/// <summary>Writes a <see cref="ClassifierModel"/> as an MRTC file (layout in <see cref="ClassifierFormat"/>).</summary>
public static class ClassifierFileWriter
{
    public static void Write(ClassifierModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(path);
        var k = model.Labels.Count;
        var stride = LinearHead.StrideFor(k);
        if (model.Bias.Length != k || model.Thresholds.Length != k
            || model.SparseWeights.Length != (1L << model.Features.HashBits) * stride)
        {
            throw new ArgumentException("The model's arrays do not match its label count and hash bits.", nameof(model));
        }

        var sections = new List<(ClassifierSection Id, byte[] Data)>
        {
            (ClassifierSection.Labels, EncodeLabels(model.Labels)),
            (ClassifierSection.Bias, Bytes(model.Bias)),
            (ClassifierSection.Thresholds, Bytes(model.Thresholds)),
            (ClassifierSection.Sparse, Bytes(model.SparseWeights)),
            (ClassifierSection.DenseHead, Bytes(model.DenseHead)),
        };

        switch (model.EmbeddingKind)
        {
            case EmbeddingKind.WordVectors:
                var capacity = WordVectorIndex.CapacityFor(model.WordHashes.Length);
                var keys = new ulong[capacity];
                var rows = new int[capacity];
                WordVectorIndex.Fill(model.WordHashes, keys, rows);
                sections.Add((ClassifierSection.VectorKeys, Bytes(keys)));
                sections.Add((ClassifierSection.VectorRows, Bytes(rows)));
                sections.Add((ClassifierSection.Vectors, Bytes(model.WordVectors)));
                break;
            case EmbeddingKind.Gguf:
                sections.Add((ClassifierSection.Gguf, EncodeGguf(model)));
                break;
            case EmbeddingKind.None:
                break;
            default:
                throw new ArgumentException($"Unknown embedding kind {model.EmbeddingKind}.", nameof(model));
        }

        sections.Add((ClassifierSection.Metadata, Encoding.UTF8.GetBytes(model.Metadata)));

        var header = new byte[ClassifierFormat.HeaderSize + (sections.Count * ClassifierFormat.SectionEntrySize)];
        var h = header.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(h[ClassifierFormat.OffsetMagic..], ClassifierFormat.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(h[ClassifierFormat.OffsetVersion..], ClassifierFormat.Version);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetLabelCount..], k);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetHashBits..], model.Features.HashBits);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetFamilies..], (int)model.Features.Families);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetMaxInstructionTokens..], model.Features.MaxInstructionTokens);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetMaxPassageTokens..], model.Features.MaxPassageTokens);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetEmbeddingKind..], (int)model.EmbeddingKind);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetEmbeddingDims..], model.EmbeddingDimensions);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetSparseStride..], stride);
        BinaryPrimitives.WriteSingleLittleEndian(h[ClassifierFormat.OffsetTemperature..], model.Temperature);
        BinaryPrimitives.WriteInt32LittleEndian(h[ClassifierFormat.OffsetSectionCount..], sections.Count);

        long offset = Align(header.Length);
        for (var i = 0; i < sections.Count; i++)
        {
            var entry = h.Slice(ClassifierFormat.HeaderSize + (i * ClassifierFormat.SectionEntrySize), ClassifierFormat.SectionEntrySize);
            BinaryPrimitives.WriteInt32LittleEndian(entry, (int)sections[i].Id);
            BinaryPrimitives.WriteInt64LittleEndian(entry[8..], offset);
            BinaryPrimitives.WriteInt64LittleEndian(entry[16..], sections[i].Data.Length);
            offset = Align(offset + sections[i].Data.Length);
        }

        // Write to a temporary name and rename, so a server watching the path never maps a half-written file.
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            stream.Write(header);
            Pad(stream);
            foreach (var (_, data) in sections)
            {
                stream.Write(data);
                Pad(stream);
            }
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static long Align(long value) => (value + ClassifierFormat.Alignment - 1) & ~(long)(ClassifierFormat.Alignment - 1);

    private static void Pad(FileStream stream)
    {
        var padding = Align(stream.Position) - stream.Position;
        Span<byte> zeros = stackalloc byte[ClassifierFormat.Alignment];
        zeros.Clear();
        stream.Write(zeros[..(int)padding]);
    }

    private static byte[] Bytes<T>(T[] values)
        where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Classifier files are little-endian; big-endian hosts are not supported.");
        }

        return MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }

    private static byte[] EncodeLabels(IReadOnlyList<string> labels)
    {
        using var buffer = new MemoryStream();
        Span<byte> scratch = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(scratch, labels.Count);
        buffer.Write(scratch);
        foreach (var label in labels)
        {
            var utf8 = Encoding.UTF8.GetBytes(label);
            BinaryPrimitives.WriteUInt16LittleEndian(scratch, checked((ushort)utf8.Length));
            buffer.Write(scratch[..2]);
            buffer.Write(utf8);
        }

        return buffer.ToArray();
    }

    private static byte[] EncodeGguf(ClassifierModel model)
    {
        var path = Encoding.UTF8.GetBytes(model.GgufPath ?? throw new ArgumentException("A GGUF classifier needs GgufPath.", nameof(model)));
        var data = new byte[18 + path.Length];
        BinaryPrimitives.WriteInt32LittleEndian(data, model.GgufTokenCount);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4), model.EmbeddingDimensions);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), model.GgufFileSize);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(16), checked((ushort)path.Length));
        path.CopyTo(data, 18);
        return data;
    }
}
