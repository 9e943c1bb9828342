using System.Runtime.InteropServices;
using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Tests.Gguf;

public sealed class GgufWriterTests
{
    [Fact]
    public void Metadata_of_every_type_round_trips()
    {
        using var dir = new TempDirectory("gguf-writer");
        var path = dir.File("all-types.gguf");
        using (var writer = new GgufWriter(File.Create(path)))
        {
            writer.AddUInt8("t.u8", 200);
            writer.AddInt8("t.i8", -100);
            writer.AddUInt16("t.u16", 60000);
            writer.AddInt16("t.i16", -30000);
            writer.AddUInt32("t.u32", 4_000_000_000);
            writer.AddInt32("t.i32", -2_000_000_000);
            writer.AddFloat32("t.f32", 3.5f);
            writer.AddBool("t.bool", true);
            writer.AddString("t.string", "héllo ✓");
            writer.AddUInt64("t.u64", ulong.MaxValue - 1);
            writer.AddInt64("t.i64", long.MinValue + 1);
            writer.AddFloat64("t.f64", Math.PI);
            writer.AddArray<int>("t.arr.i32", [1, -2, 3]);
            writer.AddArray<float>("t.arr.f32", [0.5f, -1.5f]);
            writer.AddArray<bool>("t.arr.bool", [true, false, true]);
            writer.AddArray<double>("t.arr.empty", []);
            writer.AddStringArray("t.arr.str", ["a", "", "ü"]);
            writer.AddArrayOfArrays<ushort>("t.arr.nested", [[1, 2], [], [3]]);
            writer.Complete();
        }

        using var file = GgufFile.Open(path);
        Assert.Equal(18, file.Metadata.Count);
        Assert.Equal((byte)200, file.GetValue<byte>("t.u8"));
        Assert.Equal((sbyte)-100, file.GetValue<sbyte>("t.i8"));
        Assert.Equal((ushort)60000, file.GetValue<ushort>("t.u16"));
        Assert.Equal((short)-30000, file.GetValue<short>("t.i16"));
        Assert.Equal(4_000_000_000u, file.GetUInt32("t.u32"));
        Assert.Equal(-2_000_000_000, file.GetValue<int>("t.i32"));
        Assert.Equal(3.5f, file.GetFloat32("t.f32"));
        Assert.True(file.GetValue<bool>("t.bool"));
        Assert.Equal("héllo ✓", file.GetString("t.string"));
        Assert.Equal(ulong.MaxValue - 1, file.GetValue<ulong>("t.u64"));
        Assert.Equal(long.MinValue + 1, file.GetValue<long>("t.i64"));
        Assert.Equal(Math.PI, file.GetValue<double>("t.f64"));
        Assert.Equal([1, -2, 3], file.GetArray("t.arr.i32").AsSpan<int>().ToArray());
        Assert.Equal([0.5f, -1.5f], file.GetArray("t.arr.f32").AsSpan<float>().ToArray());
        Assert.Equal([1, 0, 1], file.GetArray("t.arr.bool").RawBytes.ToArray());
        Assert.Equal(0, file.GetArray("t.arr.empty").Count);
        Assert.Equal(["a", "", "ü"], file.GetArray("t.arr.str").ToStringArray());

        var nested = new List<ushort[]>();
        foreach (var inner in file.GetArray("t.arr.nested").EnumerateArrays())
        {
            nested.Add(inner.AsSpan<ushort>().ToArray());
        }

        Assert.Equal([[1, 2], [], [3]], nested);

        // Nested arrays are valid GGUF but llama.cpp refuses them, and so does the validator.
        var ex = Assert.Throws<InvalidModelFileException>(() => GgufValidator.Validate(path));
        Assert.Contains("t.arr.nested", ex.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(4096)]
    public void Tensors_round_trip_with_aligned_offsets(int alignment)
    {
        using var dir = new TempDirectory("gguf-writer");
        var path = dir.File("tensors.gguf");
        var f32 = Enumerable.Range(0, 15).Select(i => i * 0.25f).ToArray();
        var q8 = Enumerable.Range(0, 34 * 6).Select(i => (byte)(i * 7)).ToArray();
        var f16 = Enumerable.Range(0, 3 * 5 * 2).Select(i => (byte)i).ToArray();
        using (var writer = new GgufWriter(File.Create(path), alignment))
        {
            writer.AddString("general.architecture", "test");
            Assert.Equal(60, writer.AddTensor("a.f32", [15], GgmlType.F32));
            Assert.Equal(204, writer.AddTensor("b.q8", [64, 3], GgmlType.Q8_0));
            Assert.Equal(30, writer.AddTensor("c.f16", [3, 5], GgmlType.F16));
            writer.WriteHeader();
            writer.WriteTensorData(MemoryMarshal.AsBytes(f32.AsSpan()));

            // Through the IBufferWriter surface, in uneven pieces.
            q8.AsSpan(0, 100).CopyTo(writer.GetSpan(100));
            writer.Advance(100);
            q8.AsSpan(100).CopyTo(writer.GetSpan(104));
            writer.Advance(104);
            writer.WriteTensorData(f16);
            writer.Complete();
            Assert.Equal(writer.TotalLength, new FileInfo(path).Length);
        }

        GgufValidator.Validate(path);
        using var file = GgufFile.Open(path);
        Assert.Equal(alignment, file.Alignment);
        Assert.Equal(alignment != 32, file.TryGetMetadata(GgufFormat.AlignmentKey, out _));
        Assert.Equal(["a.f32", "b.q8", "c.f16"], file.Tensors.Select(t => t.Name));
        Assert.All(file.Tensors, t => Assert.Equal(0, t.AbsoluteOffset % alignment));
        Assert.Equal(f32, MemoryMarshal.Cast<byte, float>(file.GetTensorData(file.Tensors[0])).ToArray());
        Assert.Equal(q8, file.GetTensorData(file.Tensors[1]).ToArray());
        Assert.Equal(f16, file.GetTensorData(file.Tensors[2]).ToArray());
        Assert.Equal(q8.AsSpan(40, 10).ToArray(), file.GetTensorData(file.Tensors[1], 40, 10).ToArray());
        Assert.Equal([64L, 3L], file.Tensors[1].Dimensions.ToArray());
    }

    [Fact]
    public void Metadata_copied_from_another_file_is_identical()
    {
        var vocabPath = GgufTestFiles.RequireVocab("ggml-vocab-qwen2.gguf");
        using var vocab = GgufFile.Open(vocabPath);
        using var dir = new TempDirectory("gguf-writer");
        var path = dir.File("copy.gguf");
        using (var writer = new GgufWriter(File.Create(path)))
        {
            foreach (var entry in vocab.Metadata)
            {
                writer.CopyMetadata(vocab, entry);
            }

            writer.Complete();
        }

        // A tensor-less file copied entry by entry is the original, byte for byte.
        Assert.Equal(File.ReadAllBytes(vocabPath), File.ReadAllBytes(path));
    }

    [Fact]
    public void Misuse_is_rejected_with_clear_errors()
    {
        using var writer = new GgufWriter(new MemoryStream());
        writer.AddUInt32("k", 1);
        Assert.Throws<ArgumentException>(() => writer.AddUInt32("k", 2));
        Assert.Throws<ArgumentException>(() => writer.AddString("", "x"));
        Assert.Throws<ArgumentException>(() => writer.AddTensor(new string('n', 64), [32], GgmlType.F32));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", [33], GgmlType.Q4_0));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", [1, 1, 1, 1, 1], GgmlType.F32));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", [0], GgmlType.F32));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.AddTensor("t", [4], (GgmlType)4));
        writer.AddTensor("t", [4], GgmlType.F32);
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", [4], GgmlType.F32));
        Assert.Throws<InvalidOperationException>(() => writer.GetSpan());
        writer.WriteHeader();
        Assert.Throws<InvalidOperationException>(() => writer.AddUInt32("late", 1));
        Assert.Throws<InvalidOperationException>(() => writer.WriteTensorData(new byte[17]));
        var incomplete = Assert.Throws<InvalidOperationException>(writer.Complete);
        Assert.Contains("'t'", incomplete.Message, StringComparison.Ordinal);
        writer.WriteTensorData(new byte[16]);
        writer.Complete();
    }
}
