using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace ModelRouter.Runtime.Gguf;

/// <summary>Metadata of every GGUF value type, encoded into the pending metadata block.</summary>
public sealed partial class GgufWriter
{
    /// <summary>Adds a UInt8 value.</summary>
    public void AddUInt8(string key, byte value) => AddScalar(key, GgufValueType.UInt8, value);

    /// <summary>Adds an Int8 value.</summary>
    public void AddInt8(string key, sbyte value) => AddScalar(key, GgufValueType.Int8, value);

    /// <summary>Adds a UInt16 value.</summary>
    public void AddUInt16(string key, ushort value) => AddScalar(key, GgufValueType.UInt16, value);

    /// <summary>Adds an Int16 value.</summary>
    public void AddInt16(string key, short value) => AddScalar(key, GgufValueType.Int16, value);

    /// <summary>Adds a UInt32 value.</summary>
    public void AddUInt32(string key, uint value) => AddScalar(key, GgufValueType.UInt32, value);

    /// <summary>Adds an Int32 value.</summary>
    public void AddInt32(string key, int value) => AddScalar(key, GgufValueType.Int32, value);

    /// <summary>Adds a Float32 value.</summary>
    public void AddFloat32(string key, float value) => AddScalar(key, GgufValueType.Float32, value);

    /// <summary>Adds a Bool value (stored as one byte, 0 or 1).</summary>
    public void AddBool(string key, bool value) => AddScalar(key, GgufValueType.Bool, value ? (byte)1 : (byte)0);

    /// <summary>Adds a UInt64 value.</summary>
    public void AddUInt64(string key, ulong value) => AddScalar(key, GgufValueType.UInt64, value);

    /// <summary>Adds an Int64 value.</summary>
    public void AddInt64(string key, long value) => AddScalar(key, GgufValueType.Int64, value);

    /// <summary>Adds a Float64 value.</summary>
    public void AddFloat64(string key, double value) => AddScalar(key, GgufValueType.Float64, value);

    /// <summary>Adds a string value.</summary>
    public void AddString(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        AddString(key, Encoding.UTF8.GetBytes(value));
    }

    /// <summary>Adds a string value given as UTF-8 bytes.</summary>
    public void AddString(string key, ReadOnlySpan<byte> utf8)
    {
        CheckStringLength(utf8.Length);
        BeginEntry(key, GgufValueType.String);
        AppendString(utf8);
    }

    /// <summary>Adds an array of a numeric or bool type; <typeparamref name="T"/> picks the element type.</summary>
    public void AddArray<T>(string key, ReadOnlySpan<T> values)
        where T : unmanaged
    {
        var type = ElementTypeOf<T>();
        BeginEntry(key, GgufValueType.Array);
        AppendArrayHeader(type, values.Length);
        AppendElements(values);
    }

    /// <summary>Adds an array of strings.</summary>
    public void AddStringArray(string key, IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        // Encode and check every element before the entry begins, so a bad element leaves no partial entry.
        var encoded = values.Select(v => Encoding.UTF8.GetBytes(v ?? throw new ArgumentException("Null string in array.", nameof(values)))).ToList();
        foreach (var utf8 in encoded)
        {
            CheckStringLength(utf8.Length);
        }

        BeginEntry(key, GgufValueType.Array);
        AppendArrayHeader(GgufValueType.String, encoded.Count);
        foreach (var utf8 in encoded)
        {
            AppendString(utf8);
        }
    }

    /// <summary>
    /// Adds an array whose elements are arrays of <typeparamref name="T"/>. Valid GGUF, but llama.cpp's reader
    /// rejects nested arrays, so keep them out of files meant for llama.cpp.
    /// </summary>
    public void AddArrayOfArrays<T>(string key, IReadOnlyList<T[]> arrays)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(arrays);
        var type = ElementTypeOf<T>();
        BeginEntry(key, GgufValueType.Array);
        AppendArrayHeader(GgufValueType.Array, arrays.Count);
        foreach (var inner in arrays)
        {
            AppendArrayHeader(type, inner.Length);
            AppendElements<T>(inner);
        }
    }

    /// <summary>Copies an entry of another GGUF file verbatim (any type, arrays included), optionally renamed.</summary>
    public void CopyMetadata(GgufFile source, GgufMetadataEntry entry, string? key = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(entry);
        BeginEntry(key ?? entry.Key, entry.Type);
        metadata.Write(source.GetEncodedValue(entry));
    }

    private void AddScalar<T>(string key, GgufValueType type, T value)
        where T : unmanaged
    {
        BeginEntry(key, type);
        var span = metadata.GetSpan(Unsafe.SizeOf<T>());
        WriteLittleEndian(span, value);
        metadata.Advance(Unsafe.SizeOf<T>());
    }

    private void BeginEntry(string key, GgufValueType type)
    {
        RequirePhase(Phase.Declaring);
        ArgumentException.ThrowIfNullOrEmpty(key);
        var keyBytes = Encoding.UTF8.GetBytes(key);
        if (keyBytes.Length > GgufFormat.MaxKeyBytes)
        {
            throw new ArgumentException($"Metadata key is {keyBytes.Length} bytes; at most {GgufFormat.MaxKeyBytes} are allowed.", nameof(key));
        }

        if (!keys.Add(key))
        {
            throw new ArgumentException($"Metadata key '{key}' is already set.", nameof(key));
        }

        AppendString(keyBytes);
        AppendUInt32((uint)type);
    }

    private void AppendArrayHeader(GgufValueType elementType, long count)
    {
        AppendUInt32((uint)elementType);
        var span = metadata.GetSpan(8);
        BinaryPrimitives.WriteUInt64LittleEndian(span, (ulong)count);
        metadata.Advance(8);
    }

    private void AppendElements<T>(ReadOnlySpan<T> values)
        where T : unmanaged
    {
        if (typeof(T) == typeof(bool))
        {
            // A CLR bool is one byte but any non-zero value is true; normalise to 0/1 as GGUF readers expect.
            foreach (var b in MemoryMarshal.AsBytes(values))
            {
                metadata.Write([b != 0 ? (byte)1 : (byte)0]);
            }

            return;
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("GGUF is little-endian; big-endian hosts are not supported.");
        }

        metadata.Write(MemoryMarshal.AsBytes(values));
    }

    private static void CheckStringLength(long length)
    {
        if (length > GgufFormat.MaxStringBytes)
        {
            throw new ArgumentException($"A {length}-byte string exceeds the limit of {GgufFormat.MaxStringBytes} bytes.");
        }
    }

    private void AppendString(ReadOnlySpan<byte> utf8)
    {
        var span = metadata.GetSpan(8);
        BinaryPrimitives.WriteUInt64LittleEndian(span, (ulong)utf8.Length);
        metadata.Advance(8);
        metadata.Write(utf8);
    }

    private void AppendUInt32(uint value)
    {
        var span = metadata.GetSpan(4);
        BinaryPrimitives.WriteUInt32LittleEndian(span, value);
        metadata.Advance(4);
    }

    private static GgufValueType ElementTypeOf<T>()
        where T : unmanaged =>
        GgufTypeMap.Of<T>() ?? throw new NotSupportedException($"{typeof(T).Name} is not a GGUF value type.");

    private static void WriteLittleEndian<T>(Span<byte> destination, T value)
        where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("GGUF is little-endian; big-endian hosts are not supported.");
        }

        Unsafe.WriteUnaligned(ref MemoryMarshal.GetReference(destination), value);
    }
}
