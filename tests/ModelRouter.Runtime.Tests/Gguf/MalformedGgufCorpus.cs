using System.Text;
using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Tests.Gguf;

/// <summary>One broken file: a name, its bytes, and a fragment the rejection's problem text must contain (if any).</summary>
internal sealed record MalformedCase(string Name, byte[] Bytes, string? Expected);

/// <summary>
/// Truncated, bit-flipped and hand-crafted GGUF files, each breaking the format (or llama.cpp's rules for it)
/// in a way that must be rejected. Every case is built from <see cref="RawGguf.ValidBase"/>, which is itself
/// valid, so each file differs from a good one by exactly the fault its name describes.
/// </summary>
internal static class MalformedGgufCorpus
{
    public static List<MalformedCase> Build()
    {
        var cases = new List<MalformedCase>();
        cases.AddRange(Truncations());
        cases.AddRange(BitFlips());
        cases.AddRange(HeaderCases());
        cases.AddRange(MetadataCases());
        cases.AddRange(TensorCases());
        return cases;
    }

    private static IEnumerable<MalformedCase> Truncations()
    {
        var raw = RawGguf.ValidBase();
        var bytes = raw.Build();

        // Cutting anywhere before the end of the last tensor's data must be caught, whether the cut falls in
        // the header, a key, a value, an array element, the tensor index, the padding or the data.
        var points = new SortedSet<long> { 0, 1, 3, raw.DataEnd - 1, raw.Fields["data"] - 1 };
        foreach (var field in raw.Fields.Values)
        {
            points.Add(field);
            points.Add(field + 1);
            points.Add(field + 5);
        }

        foreach (var tensorField in raw.Fields.Where(f => f.Key.EndsWith(".offset", StringComparison.Ordinal)))
        {
            points.Add(tensorField.Value + 4);
        }

        for (var at = raw.Fields["data"]; at < raw.DataEnd; at += 40)
        {
            points.Add(at);
        }

        foreach (var at in points.Where(p => p >= 0 && p < raw.DataEnd))
        {
            yield return new($"truncated-at-{at}", bytes[..(int)at], null);
        }
    }

    private static IEnumerable<MalformedCase> BitFlips()
    {
        var raw = RawGguf.ValidBase();
        var bytes = raw.Build();
        MalformedCase Flip(string field, int bit, string? expected)
        {
            var copy = (byte[])bytes.Clone();
            copy[raw.Fields[field] + (bit / 8)] ^= (byte)(1 << (bit % 8));
            return new($"bitflip-{field}-bit{bit}", copy, expected);
        }

        // Flips chosen so that each one is certainly invalid (a flip inside a string's text would not be).
        for (var b = 0; b < 4; b++)
        {
            yield return Flip("magic", (b * 8) + 1, "bad magic");
        }

        yield return Flip("version", 1, "unsupported GGUF version 1");
        yield return Flip("version", 2, "unsupported GGUF version 7");
        yield return Flip("version", 31, "GGUF version");
        yield return Flip("n_tensors", 62, "tensor count");
        yield return Flip("n_kv", 62, "metadata count");
        yield return Flip("n_kv", 40, "metadata count");
        yield return Flip("kv0.key", 40, "metadata key 0");
        yield return Flip("kv0.type", 4, "unknown value type 24");
        yield return Flip("kv0.value", 60, "string value of 'general.architecture'");
        yield return Flip("kv1.type", 30, "unknown value type");
        yield return Flip("kv2.value", 4, "unknown array element type 24");
        yield return Flip("kv2.value", 32 + 50, "array 'test.words'");
        yield return Flip("t0.name", 40, "name of tensor 0");
        yield return Flip("t0.ndims", 3, "9 dimensions");
        yield return Flip("t0.dim0", 63, "dimension 0 is");
        yield return Flip("t0.type", 5, "retired ggml type 32");
        yield return Flip("t0.offset", 0, "not a multiple of the alignment");
        yield return Flip("t0.offset", 40, "lies past the end of the file");
        yield return Flip("t1.type", 2, "retired ggml type 5");
        yield return Flip("t1.dim1", 63, "dimension 1 is");
        yield return Flip("t2.offset", 3, "not a multiple of the alignment");
        yield return Flip("t2.offset", 63, "past any possible end");
        yield return Flip("t2.dim0", 0, "not a multiple of the block size");
    }

    private static IEnumerable<MalformedCase> HeaderCases()
    {
        yield return new("empty-file", [], "empty");
        yield return new("three-bytes", "GGU"u8.ToArray(), "the file ends");
        yield return With("magic-ggml", r => r.Magic = 0x4C4D4747, "bad magic");
        yield return With("magic-zero", r => r.Magic = 0, "bad magic");
        yield return With("version-0", r => r.Version = 0, "unsupported GGUF version 0");
        yield return With("version-1", r => r.Version = 1, "unsupported GGUF version 1");
        yield return With("version-4", r => r.Version = 4, "unsupported GGUF version 4");
        yield return With("version-big-endian", r => r.Version = 0x03000000, "byte-swapped");
        yield return With("kv-count-max", r => r.KvCountOverride = ulong.MaxValue, "metadata count");
        yield return With("kv-count-2^40", r => r.KvCountOverride = 1UL << 40, "metadata count");
        yield return With("tensor-count-max", r => r.TensorCountOverride = ulong.MaxValue, "tensor count");
        yield return With("tensor-count-2^33", r => r.TensorCountOverride = 1UL << 33, "tensor count");
        yield return With("tensor-count-past-index", r => r.TensorCountOverride = 200, "tensor count");
    }

    private static IEnumerable<MalformedCase> MetadataCases()
    {
        yield return With("key-length-max", r => r.Kvs[0] = r.Kvs[0] with { KeyLengthOverride = ulong.MaxValue }, "more than the limit");
        yield return With("key-length-70000", r => r.Kvs[0] = r.Kvs[0] with { KeyLengthOverride = 70000 }, "more than the limit of 65535");
        yield return With("key-length-past-eof", r => r.Kvs[3] = r.Kvs[3] with { KeyLengthOverride = 60000 }, "remain before the end of the file");
        yield return With("key-empty", r => r.Kvs[1] = r.Kvs[1] with { Key = [] }, "is empty");
        yield return With("key-invalid-utf8", r => r.Kvs[1] = r.Kvs[1] with { Key = [(byte)'k', 0xC3, 0x28] }, "not valid UTF-8");
        yield return With("key-overlong-utf8", r => r.Kvs[1] = r.Kvs[1] with { Key = [0xC0, 0x80] }, "not valid UTF-8");
        yield return With("key-lone-surrogate", r => r.Kvs[1] = r.Kvs[1] with { Key = [0xED, 0xA0, 0x80] }, "not valid UTF-8");
        yield return With("key-duplicate", r => r.Kvs[3] = r.Kvs[3] with { Key = Encoding.UTF8.GetBytes("test.count") }, "duplicate metadata key 'test.count'");
        yield return With("value-type-13", r => r.Kvs[1] = r.Kvs[1] with { Type = 13 }, "unknown value type 13");
        yield return With("value-type-max", r => r.Kvs[1] = r.Kvs[1] with { Type = uint.MaxValue }, "unknown value type 4294967295");
        yield return With("string-length-max", r => r.Kvs[0] = r.Kvs[0] with { Value = RawKv.EncodeString("llama"u8.ToArray(), ulong.MaxValue) }, "more than the limit");
        yield return With("string-length-1GiB", r => r.Kvs[0] = r.Kvs[0] with { Value = RawKv.EncodeString("llama"u8.ToArray(), 1UL << 30) }, "more than the limit");
        yield return With("string-length-past-eof", r => r.Kvs[0] = r.Kvs[0] with { Value = RawKv.EncodeString("llama"u8.ToArray(), 50000) }, "remain before the end of the file");
        yield return With("array-string-length-max", r => r.Kvs[2] = r.Kvs[2] with { Value = RawKv.Array(8, 2, [.. RawKv.EncodeString("ok"u8.ToArray()), .. RawKv.EncodeString("x"u8.ToArray(), ulong.MaxValue)]) }, "string 1 of array 'test.words'");
        yield return With("array-count-max", r => r.Kvs[2] = r.Kvs[2] with { Value = RawKv.Array(8, ulong.MaxValue, []) }, "more than the limit");
        yield return With("array-count-2^29", r => r.Kvs[2] = r.Kvs[2] with { Value = RawKv.Array((uint)GgufValueType.UInt64, 1UL << 29, []) }, "cannot fit");
        yield return With("array-element-type-42", r => r.Kvs[2] = r.Kvs[2] with { Value = RawKv.Array(42, 1, [0]) }, "unknown array element type 42");
        yield return With("alignment-48", r => r.Kvs.Add(RawKv.UInt32(GgufFormat.AlignmentKey, 48)), "not a power of two");
        yield return With("alignment-0", r => r.Kvs.Add(RawKv.UInt32(GgufFormat.AlignmentKey, 0)), "not a power of two");
        yield return With("alignment-string", r => r.Kvs.Add(RawKv.String(GgufFormat.AlignmentKey, "32")), "must be a UInt32");
        yield return With("array-nested-too-deep", r => r.Kvs.Add(NestedArray("test.deep", 9)), "deeper than the limit");
        yield return With("array-nested-llama-cpp", r => r.Kvs.Add(NestedArray("test.nested", 2)), "array of arrays");
    }

    private static IEnumerable<MalformedCase> TensorCases()
    {
        yield return With("ndims-5", r => r.Tensors[0] = new RawTensor("a.f32", [8, 1, 1, 1, 1], 0, 0), "5 dimensions");
        yield return With("ndims-max", r => r.Tensors[0] = r.Tensors[0] with { DimCountOverride = uint.MaxValue }, "4294967295 dimensions");
        yield return With("dim-negative", r => r.Tensors[0] = r.Tensors[0] with { Dims = [-1] }, "dimension 0 is -1");
        yield return With("dim-zero", r => r.Tensors[1] = r.Tensors[1] with { Dims = [16, 0] }, "dimension 1 is 0");
        yield return With("dim-min-value", r => r.Tensors[1] = r.Tensors[1] with { Dims = [16, long.MinValue] }, "must be positive");
        yield return With("elements-overflow-2d", r => r.Tensors[0] = r.Tensors[0] with { Dims = [1L << 32, 1L << 32] }, "element count overflows");
        yield return With("elements-overflow-4d", r => r.Tensors[0] = r.Tensors[0] with { Dims = [1 << 16, 1 << 16, 1 << 16, 1 << 16] }, "element count overflows");
        yield return With("bytes-overflow", r => r.Tensors[0] = r.Tensors[0] with { Dims = [1L << 62] }, "overflows 64 bits");
        yield return With("ggml-type-99", r => r.Tensors[0] = r.Tensors[0] with { Type = 99 }, "ggml type 99");
        yield return With("ggml-type-retired-4", r => r.Tensors[0] = r.Tensors[0] with { Type = 4 }, "retired ggml type 4");
        yield return With("ggml-type-retired-31", r => r.Tensors[0] = r.Tensors[0] with { Type = 31 }, "retired ggml type 31");
        yield return With("ggml-type-max", r => r.Tensors[0] = r.Tensors[0] with { Type = uint.MaxValue }, "ggml type 4294967295");
        yield return With("row-not-whole-blocks", r => r.Tensors[2] = r.Tensors[2] with { Dims = [33, 2] }, "not a multiple of the block size 32");
        yield return With("offset-past-eof", r => r.Tensors[2] = r.Tensors[2] with { Offset = 1 << 20 }, "lies past the end of the file");
        yield return With("offset-2^62", r => r.Tensors[2] = r.Tensors[2] with { Offset = 1UL << 62 }, "lies past the end of the file");
        yield return With("offset-max", r => r.Tensors[2] = r.Tensors[2] with { Offset = ulong.MaxValue }, "past any possible end");
        yield return With("offset-misaligned-33", r => r.Tensors[1] = r.Tensors[1] with { Offset = 33 }, "not a multiple of the alignment 32");
        yield return With("offset-misaligned-16", r => r.Tensors[2] = r.Tensors[2] with { Offset = 112 }, "not a multiple of the alignment 32");
        yield return With("data-truncated", r => r.DataLengthOverride = 100, "lies past the end of the file");
        yield return With("data-missing", r => r.DataLengthOverride = 0, "lies past the end of the file");
        yield return With("tensor-name-duplicate", r => r.Tensors[2] = r.Tensors[2] with { Name = "a.f32"u8.ToArray() }, "duplicate tensor name 'a.f32'");
        yield return With("tensor-name-empty", r => r.Tensors[1] = r.Tensors[1] with { Name = [] }, "empty name");
        yield return With("tensor-name-64-bytes", r => r.Tensors[1] = r.Tensors[1] with { Name = Encoding.UTF8.GetBytes(new string('n', 64)) }, "at most 63");
        yield return With("tensor-name-invalid-utf8", r => r.Tensors[1] = r.Tensors[1] with { Name = [(byte)'b', 0xFF] }, "not valid UTF-8");
        yield return With("tensors-overlap", r => r.Tensors[1] = r.Tensors[1] with { Offset = 0 }, "overlaps");
        yield return With("tensors-gap-llama-cpp", r => { r.Tensors[2] = r.Tensors[2] with { Offset = 128 }; r.DataLengthOverride = 224; }, "llama.cpp requires 96");
        yield return With("tensors-reordered-llama-cpp", r => { r.Tensors[0] = r.Tensors[0] with { Offset = 64 }; r.Tensors[1] = r.Tensors[1] with { Offset = 0 }; }, "llama.cpp requires");
    }

    private static MalformedCase With(string name, Action<RawGguf> mutate, string expected)
    {
        var raw = RawGguf.ValidBase();
        mutate(raw);
        return new(name, raw.Build(), expected);
    }

    private static RawKv NestedArray(string key, int depth)
    {
        // depth 1 is a plain array of one UInt8; each further level wraps it in a one-element array.
        byte[] value = RawKv.Array((uint)GgufValueType.UInt8, 1, [42]);
        for (var level = 1; level < depth; level++)
        {
            value = RawKv.Array((uint)GgufValueType.Array, 1, value);
        }

        return new RawKv(Encoding.UTF8.GetBytes(key), (uint)GgufValueType.Array, value);
    }
}
