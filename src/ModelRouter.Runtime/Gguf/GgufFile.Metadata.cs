using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;

namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// Typed metadata getters. <c>TryGet…</c> returns false only when the key is absent; a key that is present
/// with another type raises <see cref="InvalidModelFileException"/>, because a model whose metadata has the
/// wrong type is broken, not merely missing an optional value (llama.cpp refuses it the same way).
/// </summary>
public sealed unsafe partial class GgufFile
{
    /// <summary>Reads a string value.</summary>
    public bool TryGetString(string key, [NotNullWhen(true)] out string? value)
    {
        if (!TryGetTyped(key, GgufValueType.String, out var entry))
        {
            value = null;
            return false;
        }

        value = Encoding.UTF8.GetString(GetStringBytes(entry));
        return true;
    }

    /// <summary>Reads a required string value.</summary>
    /// <exception cref="InvalidModelFileException">The key is missing or not a string.</exception>
    public string GetString(string key) => TryGetString(key, out var value) ? value : ThrowMissing<string>(key);

    /// <summary>The UTF-8 bytes of a string entry, over the mapping (valid until the file is disposed).</summary>
    public ReadOnlySpan<byte> GetStringBytes(GgufMetadataEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        RequireType(entry, GgufValueType.String);
        var at = Base + entry.ValueOffset;
        var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(at, 8));
        return new ReadOnlySpan<byte>(at + 8, length);
    }

    /// <summary>Reads a UInt32 value.</summary>
    public bool TryGetUInt32(string key, out uint value) => TryGetValue(key, out value);

    /// <summary>Reads a required UInt32 value.</summary>
    public uint GetUInt32(string key) => GetValue<uint>(key);

    /// <summary>Reads a Float32 value.</summary>
    public bool TryGetFloat32(string key, out float value) => TryGetValue(key, out value);

    /// <summary>Reads a required Float32 value.</summary>
    public float GetFloat32(string key) => GetValue<float>(key);

    /// <summary>
    /// Reads a scalar whose GGUF type matches <typeparamref name="T"/> exactly (byte = UInt8, int = Int32,
    /// bool = Bool, double = Float64, …).
    /// </summary>
    public bool TryGetValue<T>(string key, out T value)
        where T : unmanaged
    {
        var type = GgufTypeMap.Of<T>() ?? throw new NotSupportedException($"{typeof(T).Name} is not a GGUF value type.");
        if (!TryGetTyped(key, type, out var entry))
        {
            value = default;
            return false;
        }

        value = ReadScalar<T>(entry);
        return true;
    }

    /// <summary>Reads a required scalar; see <see cref="TryGetValue{T}"/>.</summary>
    public T GetValue<T>(string key)
        where T : unmanaged => TryGetValue<T>(key, out var value) ? value : ThrowMissing<T>(key);

    /// <summary>Reads an array value.</summary>
    public bool TryGetArray(string key, out GgufArray array)
    {
        if (!TryGetTyped(key, GgufValueType.Array, out var entry))
        {
            array = default;
            return false;
        }

        array = GetArray(entry);
        return true;
    }

    /// <summary>Reads a required array value.</summary>
    public GgufArray GetArray(string key) => TryGetArray(key, out var array) ? array : ThrowMissing<GgufArray>(key);

    /// <summary>The array held by an array entry.</summary>
    public GgufArray GetArray(GgufMetadataEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        RequireType(entry, GgufValueType.Array);
        return new GgufArray(this, entry.ArrayElementType, entry.ArrayLength, entry.ValueOffset, entry.ValueLength);
    }

    /// <summary>Reads a scalar entry (numeric or bool) of the matching type.</summary>
    public T ReadScalar<T>(GgufMetadataEntry entry)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(entry);
        RequireType(entry, GgufTypeMap.Of<T>() ?? throw new NotSupportedException($"{typeof(T).Name} is not a GGUF value type."));
        var at = Base + entry.ValueOffset;
        if (typeof(T) == typeof(bool))
        {
            // Stored as int8; any non-zero byte is true (as llama.cpp reads it), never an invalid CLR bool.
            var flag = *at != 0;
            return Unsafe.As<bool, T>(ref flag);
        }

        return Unsafe.ReadUnaligned<T>(at);
    }

    /// <summary>
    /// The entry's value exactly as encoded in the file (for arrays: element type and count first), so a
    /// writer can copy metadata such as a tokenizer without decoding it.
    /// </summary>
    public ReadOnlySpan<byte> GetEncodedValue(GgufMetadataEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var header = entry.IsArray ? GgufFormat.ArrayHeaderBytes : 0;
        return new ReadOnlySpan<byte>(Base + entry.ValueOffset - header, checked((int)(entry.ValueLength + header)));
    }

    /// <summary>Bytes taken by <paramref name="count"/> elements of <paramref name="type"/> starting at <paramref name="offset"/>.</summary>
    internal static long MeasureElements(byte* basePointer, long offset, GgufValueType type, long count)
    {
        var fixedSize = GgufFormat.FixedSize(type);
        if (fixedSize != 0)
        {
            return count * fixedSize;
        }

        var position = offset;
        for (long i = 0; i < count; i++)
        {
            var at = basePointer + position;
            if (type == GgufValueType.String)
            {
                position += 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(at, 8));
            }
            else
            {
                var innerType = (GgufValueType)BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(at, 4));
                var innerCount = (long)BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(at + 4, 8));
                position += GgufFormat.ArrayHeaderBytes;
                position += MeasureElements(basePointer, position, innerType, innerCount);
            }
        }

        return position - offset;
    }

    private bool TryGetTyped(string key, GgufValueType type, [NotNullWhen(true)] out GgufMetadataEntry? entry)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!layout.MetadataByKey.TryGetValue(key, out entry))
        {
            return false;
        }

        RequireType(entry, type);
        return true;
    }

    private void RequireType(GgufMetadataEntry entry, GgufValueType type)
    {
        if (entry.Type != type)
        {
            var actual = entry.IsArray ? $"an array of {entry.ArrayElementType}" : entry.Type.ToString();
            throw new InvalidModelFileException(FilePath, $"metadata '{entry.Key}' is {actual}, expected {type}");
        }
    }

    [DoesNotReturn]
    private T ThrowMissing<T>(string key) =>
        throw new InvalidModelFileException(FilePath, $"required metadata '{key}' is missing");
}
