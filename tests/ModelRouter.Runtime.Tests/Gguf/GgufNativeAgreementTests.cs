using System.Runtime.InteropServices;
using System.Text;
using ModelRouter.Interop;
using ModelRouter.Runtime.Gguf;
using NativeGguf = ModelRouter.Interop.Gguf;

namespace ModelRouter.Runtime.Tests.Gguf;

/// <summary>ggml's own GGUF reader (gguf.cpp) reads what <see cref="GgufWriter"/> writes, and agrees with our reader.</summary>
public sealed class GgufNativeAgreementTests
{
    [Fact]
    public unsafe void Ggml_reads_every_value_type_and_the_tensor_layout_written_by_the_writer()
    {
        try
        {
            NativeLibraryLoader.EnsureLoaded();
        }
        catch (NativeLibraryLoadException ex)
        {
            Assert.Skip("Native libraries are not built (./build.sh native): " + ex.Message);
        }

        using var dir = new TempDirectory("gguf-native");
        var path = dir.File("agreement.gguf");
        using (var writer = new GgufWriter(File.Create(path), alignment: 64))
        {
            writer.AddUInt8("v.u8", 250);
            writer.AddInt8("v.i8", -7);
            writer.AddUInt16("v.u16", 65000);
            writer.AddInt16("v.i16", -32000);
            writer.AddUInt32("v.u32", 123456789);
            writer.AddInt32("v.i32", -123456789);
            writer.AddFloat32("v.f32", -2.25f);
            writer.AddBool("v.bool", true);
            writer.AddString("v.str", "naïve");
            writer.AddUInt64("v.u64", 1UL << 60);
            writer.AddInt64("v.i64", -(1L << 60));
            writer.AddFloat64("v.f64", 1e-300);
            writer.AddArray<float>("v.arr", [1f, 2f, 3f]);
            writer.AddStringArray("v.strs", ["x", "yy"]);
            writer.AddTensor("t.q4", [64, 3], GgmlType.Q4_0);
            writer.AddTensor("t.f32", [5], GgmlType.F32);
            writer.WriteHeader();
            writer.WriteTensorData(new byte[3 * 2 * 18]);
            writer.WriteTensorData(new byte[20]);
            writer.Complete();
        }

        using var ours = GgufFile.Open(path);
        var native = Open(path);
        Assert.True(native != null, "gguf.cpp refused the file");
        try
        {
            Assert.Equal(3u, NativeGguf.gguf_get_version(native));
            Assert.Equal(64u, (ulong)NativeGguf.gguf_get_alignment(native));
            Assert.Equal((ulong)ours.DataOffset, (ulong)NativeGguf.gguf_get_data_offset(native));
            Assert.Equal(ours.Metadata.Count, NativeGguf.gguf_get_n_kv(native));
            Assert.Equal((byte)250, NativeGguf.gguf_get_val_u8(native, Key(native, "v.u8")));
            Assert.Equal((sbyte)-7, NativeGguf.gguf_get_val_i8(native, Key(native, "v.i8")));
            Assert.Equal((ushort)65000, NativeGguf.gguf_get_val_u16(native, Key(native, "v.u16")));
            Assert.Equal((short)-32000, NativeGguf.gguf_get_val_i16(native, Key(native, "v.i16")));
            Assert.Equal(123456789u, NativeGguf.gguf_get_val_u32(native, Key(native, "v.u32")));
            Assert.Equal(-123456789, NativeGguf.gguf_get_val_i32(native, Key(native, "v.i32")));
            Assert.Equal(-2.25f, NativeGguf.gguf_get_val_f32(native, Key(native, "v.f32")));
            Assert.True(NativeGguf.gguf_get_val_bool(native, Key(native, "v.bool")));
            Assert.Equal("naïve", Marshal.PtrToStringUTF8((nint)NativeGguf.gguf_get_val_str(native, Key(native, "v.str"))));
            Assert.Equal(1UL << 60, NativeGguf.gguf_get_val_u64(native, Key(native, "v.u64")));
            Assert.Equal(-(1L << 60), NativeGguf.gguf_get_val_i64(native, Key(native, "v.i64")));
            Assert.Equal(1e-300, NativeGguf.gguf_get_val_f64(native, Key(native, "v.f64")));
            var arr = Key(native, "v.arr");
            Assert.Equal(3u, (ulong)NativeGguf.gguf_get_arr_n(native, arr));
            Assert.Equal([1f, 2f, 3f], new ReadOnlySpan<float>(NativeGguf.gguf_get_arr_data(native, arr), 3).ToArray());
            Assert.Equal("yy", Marshal.PtrToStringUTF8((nint)NativeGguf.gguf_get_arr_str(native, Key(native, "v.strs"), 1)));

            Assert.Equal(2, NativeGguf.gguf_get_n_tensors(native));
            for (var i = 0; i < 2; i++)
            {
                var tensor = ours.Tensors[i];
                Assert.Equal(tensor.Name, Marshal.PtrToStringUTF8((nint)NativeGguf.gguf_get_tensor_name(native, i)));
                Assert.Equal((ulong)tensor.RelativeOffset, (ulong)NativeGguf.gguf_get_tensor_offset(native, i));
                Assert.Equal((ulong)tensor.ByteSize, (ulong)NativeGguf.gguf_get_tensor_size(native, i));
                Assert.Equal((uint)tensor.Type, (uint)NativeGguf.gguf_get_tensor_type(native, i));
            }
        }
        finally
        {
            NativeGguf.gguf_free(native);
        }
    }

    private static unsafe gguf_context* Open(string path)
    {
        var init = new gguf_init_params { no_alloc = true, ctx = null };
        fixed (byte* name = Encoding.UTF8.GetBytes(path + "\0"))
        {
            return NativeGguf.gguf_init_from_file((sbyte*)name, init);
        }
    }

    private static unsafe long Key(gguf_context* context, string key)
    {
        fixed (byte* name = Encoding.UTF8.GetBytes(key + "\0"))
        {
            var id = NativeGguf.gguf_find_key(context, (sbyte*)name);
            Assert.True(id >= 0, $"gguf.cpp does not find '{key}'");
            return id;
        }
    }
}
