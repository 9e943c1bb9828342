using System.Runtime.InteropServices;
using System.Text;

namespace ModelRouter.Runtime.Native;

/// <summary>UTF-8 conversions at the native boundary (off the hot paths: names, paths, metadata).</summary>
internal static unsafe class NativeStrings
{
    /// <summary>A NUL-terminated UTF-8 copy in native memory; free with <see cref="NativeMemory.Free"/>.</summary>
    public static byte* Allocate(string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        var buffer = (byte*)NativeMemory.Alloc((nuint)count + 1);
        Encoding.UTF8.GetBytes(value, new Span<byte>(buffer, count));
        buffer[count] = 0;
        return buffer;
    }

    /// <summary>Reads a NUL-terminated UTF-8 string; null pointer gives null.</summary>
    public static string? Read(sbyte* value) => value == null ? null : Marshal.PtrToStringUTF8((nint)value);

    /// <summary>Reads a fixed-size C char array up to its first NUL.</summary>
    public static string ReadFixed(sbyte* field, int capacity)
    {
        var bytes = new ReadOnlySpan<byte>(field, capacity);
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }
}
