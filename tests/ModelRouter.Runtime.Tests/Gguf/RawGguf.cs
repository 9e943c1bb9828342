using System.Buffers.Binary;
using System.Text;
using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Tests.Gguf;

/// <summary>
/// A GGUF described field by field and serialised without any of the writer's checks, so that tests can build
/// files that break exactly one rule. Serialising records where each field lies, for targeted bit flips and
/// truncations.
/// </summary>
internal sealed class RawGguf
{
    public uint Magic { get; set; } = GgufFormat.Magic;

    public uint Version { get; set; } = 3;

    public ulong? TensorCountOverride { get; set; }

    public ulong? KvCountOverride { get; set; }

    public List<RawKv> Kvs { get; } = [];

    public List<RawTensor> Tensors { get; } = [];

    public int Alignment { get; set; } = 32;

    /// <summary>Bytes of tensor data after the index padding; null to size it from the tensors.</summary>
    public long? DataLengthOverride { get; set; }

    /// <summary>Byte offsets of named fields in the last serialised file (e.g. "kv0.type", "t1.offset").</summary>
    public Dictionary<string, long> Fields { get; } = [];

    /// <summary>Offset just past the last tensor's data (before its padding) in the last serialised file.</summary>
    public long DataEnd { get; private set; }

    /// <summary>A small valid file: four metadata entries (a string array among them) and three tensors.</summary>
    public static RawGguf ValidBase()
    {
        var raw = new RawGguf();
        raw.Kvs.Add(RawKv.String("general.architecture", "llama"));
        raw.Kvs.Add(RawKv.UInt32("test.count", 7));
        raw.Kvs.Add(RawKv.StringArray("test.words", "alpha", "beta", "gamma"));
        raw.Kvs.Add(RawKv.Float32("test.scale", 0.5f));
        raw.Tensors.Add(new RawTensor("a.f32", [8], (uint)GgmlType.F32, 0));
        raw.Tensors.Add(new RawTensor("b.f16", [16, 2], (uint)GgmlType.F16, 32));
        raw.Tensors.Add(new RawTensor("c.q8_0", [32, 2], (uint)GgmlType.Q8_0, 96));
        return raw;
    }

    public byte[] Build()
    {
        Fields.Clear();
        var bytes = new List<byte>();
        Field(bytes, "magic");
        U32(bytes, Magic);
        Field(bytes, "version");
        U32(bytes, Version);
        Field(bytes, "n_tensors");
        U64(bytes, TensorCountOverride ?? (ulong)Tensors.Count);
        Field(bytes, "n_kv");
        U64(bytes, KvCountOverride ?? (ulong)Kvs.Count);
        for (var i = 0; i < Kvs.Count; i++)
        {
            var kv = Kvs[i];
            Field(bytes, $"kv{i}.key");
            U64(bytes, kv.KeyLengthOverride ?? (ulong)kv.Key.Length);
            bytes.AddRange(kv.Key);
            Field(bytes, $"kv{i}.type");
            U32(bytes, kv.Type);
            Field(bytes, $"kv{i}.value");
            bytes.AddRange(kv.Value);
        }

        for (var i = 0; i < Tensors.Count; i++)
        {
            var t = Tensors[i];
            Field(bytes, $"t{i}.name");
            U64(bytes, (ulong)t.Name.Length);
            bytes.AddRange(t.Name);
            Field(bytes, $"t{i}.ndims");
            U32(bytes, t.DimCountOverride ?? (uint)t.Dims.Length);
            for (var d = 0; d < t.Dims.Length; d++)
            {
                Field(bytes, $"t{i}.dim{d}");
                U64(bytes, (ulong)t.Dims[d]);
            }

            Field(bytes, $"t{i}.type");
            U32(bytes, t.Type);
            Field(bytes, $"t{i}.offset");
            U64(bytes, t.Offset);
        }

        while (bytes.Count % Alignment != 0)
        {
            bytes.Add(0);
        }

        var dataStart = bytes.Count;
        Fields["data"] = dataStart;
        var dataLength = DataLengthOverride ?? NaturalDataLength();
        DataEnd = dataStart + NaturalDataEnd();
        for (long i = 0; i < dataLength; i++)
        {
            bytes.Add((byte)(i * 31));
        }

        return [.. bytes];
    }

    private long NaturalDataEnd()
    {
        long end = 0;
        foreach (var t in Tensors)
        {
            if (GgmlTypeTraits.TryGet(t.Type, out var info) && t.Dims.Length > 0 && t.Offset < 1 << 20 && t.Dims.All(d => d is > 0 and < 1 << 20))
            {
                var elements = t.Dims.Aggregate(1L, (a, d) => a * d);
                end = Math.Max(end, (long)t.Offset + (elements / info.BlockSize * info.TypeSize));
            }
        }

        return end;
    }

    // Capped so that a case with a forged huge offset or shape stays a small file.
    private long NaturalDataLength() => Math.Min(GgufFormat.Align(NaturalDataEnd(), Alignment), 4096);

    private void Field(List<byte> bytes, string name) => Fields[name] = bytes.Count;

    internal static void U32(List<byte> bytes, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        bytes.AddRange(b);
    }

    internal static void U64(List<byte> bytes, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        bytes.AddRange(b);
    }
}

/// <summary>One metadata entry: raw key bytes, type id and the encoded value.</summary>
internal sealed record RawKv(byte[] Key, uint Type, byte[] Value)
{
    public ulong? KeyLengthOverride { get; init; }

    public static RawKv String(string key, string value) => new(Encoding.UTF8.GetBytes(key), (uint)GgufValueType.String, EncodeString(Encoding.UTF8.GetBytes(value)));

    public static RawKv UInt32(string key, uint value)
    {
        var v = new List<byte>();
        RawGguf.U32(v, value);
        return new(Encoding.UTF8.GetBytes(key), (uint)GgufValueType.UInt32, [.. v]);
    }

    public static RawKv Float32(string key, float value)
    {
        var v = new List<byte>();
        RawGguf.U32(v, BitConverter.SingleToUInt32Bits(value));
        return new(Encoding.UTF8.GetBytes(key), (uint)GgufValueType.Float32, [.. v]);
    }

    public static RawKv StringArray(string key, params string[] values) =>
        new(Encoding.UTF8.GetBytes(key), (uint)GgufValueType.Array, Array((uint)GgufValueType.String, (ulong)values.Length, values.SelectMany(s => EncodeString(Encoding.UTF8.GetBytes(s))).ToArray()));

    /// <summary>An encoded array value: element type, count, then the given element bytes.</summary>
    public static byte[] Array(uint elementType, ulong count, byte[] elements)
    {
        var v = new List<byte>();
        RawGguf.U32(v, elementType);
        RawGguf.U64(v, count);
        v.AddRange(elements);
        return [.. v];
    }

    public static byte[] EncodeString(byte[] utf8, ulong? lengthOverride = null)
    {
        var v = new List<byte>();
        RawGguf.U64(v, lengthOverride ?? (ulong)utf8.Length);
        v.AddRange(utf8);
        return [.. v];
    }
}

/// <summary>One tensor index entry as stored.</summary>
internal sealed record RawTensor(byte[] Name, long[] Dims, uint Type, ulong Offset)
{
    public RawTensor(string name, long[] dims, uint type, ulong offset)
        : this(Encoding.UTF8.GetBytes(name), dims, type, offset)
    {
    }

    public uint? DimCountOverride { get; init; }
}
