using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// Parses and validates the header, metadata and tensor index of a mapped GGUF file. Validation comes first:
/// every count is bounded by the bytes that could hold it before anything is allocated for it, every length
/// is checked against the end of the file before it is read, and every tensor's data range is checked
/// against the file, so nothing later can read outside the mapping.
/// </summary>
/// <remarks>
/// Layout (all little-endian):
/// <code>
/// magic "GGUF" u32 | version u32 | n_tensors u64 | n_kv u64
/// n_kv x  { key: string | type u32 | value }            string = u64 length + bytes (no terminator)
///                                                        array  = elem type u32 | count u64 | elements
/// n_tensors x { name: string | n_dims u32 | ne[n_dims] i64 | ggml type u32 | offset u64 }
/// padding to the alignment | tensor data (each tensor at data start + offset, offset aligned)
/// </code>
/// </remarks>
internal static unsafe partial class GgufParser
{
    public static GgufLayout Parse(byte* start, long length, string path)
    {
        var cursor = new GgufCursor(start, length, path);
        var version = ReadHeader(ref cursor, out var tensorCount, out var kvCount);
        var layout = new GgufLayout(version, kvCount, tensorCount);

        ReadMetadata(ref cursor, start, layout, kvCount);
        layout.Alignment = ReadAlignment(start, path, layout);
        ReadTensorIndex(ref cursor, layout, tensorCount);

        // The data section starts at the next aligned offset after the index (llama.cpp seeks there only when
        // there are tensors, so a tensor-less file such as a vocabulary may end without padding).
        layout.DataOffset = tensorCount > 0 ? GgufFormat.Align(cursor.Position, layout.Alignment) : cursor.Position;
        if (tensorCount > 0 && layout.DataOffset > length)
        {
            GgufThrow.Invalid(path, $"the tensor data section would start at offset {layout.DataOffset}, past the end of the file (size {length})");
        }

        ResolveTensorRanges(path, length, layout);
        return layout;
    }

    private static uint ReadHeader(ref GgufCursor cursor, out long tensorCount, out long kvCount)
    {
        var path = cursor.Path;
        var magic = cursor.ReadUInt32("the GGUF magic");
        if (magic != GgufFormat.Magic)
        {
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, magic);
            var printable = new string(bytes.ToArray().Select(b => b is >= 0x20 and < 0x7f ? (char)b : '?').ToArray());
            GgufThrow.Invalid(path, $"bad magic 0x{magic:x8} ('{printable}'), expected 'GGUF': not a GGUF file");
        }

        var version = cursor.ReadUInt32("the GGUF version");
        if (version != 0 && (version & 0xFFFF) == 0)
        {
            GgufThrow.Invalid(path, $"GGUF version 0x{version:x8} looks byte-swapped: big-endian files are not supported");
        }

        if (version is < GgufFormat.MinimumVersion or > GgufFormat.CurrentVersion)
        {
            GgufThrow.Invalid(path, $"unsupported GGUF version {version}: versions {GgufFormat.MinimumVersion} and {GgufFormat.CurrentVersion} are supported");
        }

        var tensors = cursor.ReadUInt64("the tensor count");
        var kvs = cursor.ReadUInt64("the metadata key-value count");

        // Each entry needs at least a few bytes, so a count the remaining bytes cannot hold is a lie; checking it
        // here keeps a forged count from driving allocation or a long loop.
        var remaining = (ulong)cursor.Remaining;
        if (kvs > remaining / GgufFormat.MinKeyValueBytes)
        {
            GgufThrow.Invalid(path, $"metadata count {kvs} cannot fit in the {remaining} bytes after the header (each entry takes at least {GgufFormat.MinKeyValueBytes})");
        }

        if (tensors > (remaining - (kvs * GgufFormat.MinKeyValueBytes)) / GgufFormat.MinTensorInfoBytes)
        {
            GgufThrow.Invalid(path, $"tensor count {tensors} cannot fit in the {remaining} bytes after the header together with {kvs} metadata entries");
        }

        tensorCount = (long)tensors;
        kvCount = (long)kvs;
        return version;
    }

    private static void ReadMetadata(ref GgufCursor cursor, byte* start, GgufLayout layout, long kvCount)
    {
        var path = cursor.Path;
        for (long i = 0; i < kvCount; i++)
        {
            var keyAt = cursor.Position;
            var keyBytes = cursor.ReadStringBytes(GgufFormat.MaxKeyBytes, $"metadata key {i}");
            if (keyBytes.IsEmpty)
            {
                GgufThrow.Invalid(path, $"metadata key {i} at offset {keyAt} is empty");
            }

            if (!Utf8.IsValid(keyBytes))
            {
                GgufThrow.Invalid(path, $"metadata key {i} at offset {keyAt} is not valid UTF-8");
            }

            var key = Encoding.UTF8.GetString(keyBytes);
            if (layout.MetadataByKey.ContainsKey(key))
            {
                GgufThrow.Invalid(path, $"duplicate metadata key '{key}' (entry {i} at offset {keyAt})");
            }

            var type = ReadValueType(ref cursor, key, "value type");
            GgufMetadataEntry entry;
            if (type == GgufValueType.Array)
            {
                var elementType = ReadValueType(ref cursor, key, "array element type");
                var count = ReadArrayCount(ref cursor, key, elementType);
                var valueAt = cursor.Position;
                SkipArrayElements(ref cursor, key, elementType, count, depth: 1, layout);
                entry = new GgufMetadataEntry(key, type, elementType, count, valueAt, cursor.Position - valueAt);
            }
            else
            {
                var valueAt = cursor.Position;
                SkipScalar(ref cursor, key, type);
                entry = new GgufMetadataEntry(key, type, type, 1, valueAt, cursor.Position - valueAt);
            }

            layout.Metadata.Add(entry);
            layout.MetadataByKey.Add(key, entry);
        }
    }

    private static GgufValueType ReadValueType(ref GgufCursor cursor, string key, string what)
    {
        var at = cursor.Position;
        var raw = cursor.ReadUInt32($"the {what} of '{key}'");
        var type = (GgufValueType)raw;
        if (!GgufFormat.IsKnown(type))
        {
            GgufThrow.Invalid(cursor.Path, $"metadata key '{key}' has unknown {what} {raw} at offset {at}");
        }

        return type;
    }

    private static long ReadArrayCount(ref GgufCursor cursor, string key, GgufValueType elementType)
    {
        var at = cursor.Position;
        var count = cursor.ReadUInt64($"the array length of '{key}'");
        if (count > GgufFormat.MaxArrayElements)
        {
            GgufThrow.Invalid(cursor.Path, $"array '{key}' at offset {at} claims {count} elements, more than the limit of {GgufFormat.MaxArrayElements}");
        }

        var minimum = (ulong)GgufFormat.MinimumSize(elementType);
        if (count > (ulong)cursor.Remaining / minimum)
        {
            GgufThrow.Invalid(cursor.Path, $"array '{key}' at offset {at} claims {count} {elementType} elements, which cannot fit in the {cursor.Remaining} bytes left in the file");
        }

        return (long)count;
    }

    private static void SkipScalar(ref GgufCursor cursor, string key, GgufValueType type)
    {
        if (type == GgufValueType.String)
        {
            cursor.ReadStringBytes(GgufFormat.MaxStringBytes, $"the string value of '{key}'");
            return;
        }

        cursor.Skip(GgufFormat.FixedSize(type), $"the {type} value of '{key}'");
    }

    private static void SkipArrayElements(ref GgufCursor cursor, string key, GgufValueType elementType, long count, int depth, GgufLayout layout)
    {
        switch (elementType)
        {
            case GgufValueType.String:
                SkipStrings(ref cursor, key, count);
                break;
            case GgufValueType.Array:
                // Recursion is bounded by MaxArrayDepth, so a file cannot exhaust the stack.
                if (depth >= GgufFormat.MaxArrayDepth)
                {
                    GgufThrow.Invalid(cursor.Path, $"array '{key}' nests arrays deeper than the limit of {GgufFormat.MaxArrayDepth} levels");
                }

                layout.FirstNestedArrayKey ??= key;
                for (long e = 0; e < count; e++)
                {
                    var innerType = ReadValueType(ref cursor, key, "nested array element type");
                    var innerCount = ReadArrayCount(ref cursor, key, innerType);
                    SkipArrayElements(ref cursor, key, innerType, innerCount, depth + 1, layout);
                }

                break;
            default:
                // count was bounded by Remaining / size, so the product cannot overflow.
                cursor.Skip(count * GgufFormat.FixedSize(elementType), $"the {count} {elementType} elements of '{key}'");
                break;
        }
    }

    private static void SkipStrings(ref GgufCursor cursor, string key, long count)
    {
        for (long e = 0; e < count; e++)
        {
            var at = cursor.Position;
            var status = cursor.TrySkipString(GgufFormat.MaxStringBytes, out var length);
            if (status != StringSkip.Ok)
            {
                var problem = status switch
                {
                    StringSkip.HeaderTruncated => $"the file ends (size {cursor.Length}) inside the length of string {e} of array '{key}' at offset {at}",
                    StringSkip.TooLong => $"string {e} of array '{key}' at offset {at} claims {length} bytes, more than the limit of {GgufFormat.MaxStringBytes}",
                    _ => $"string {e} of array '{key}' at offset {at} claims {length} bytes, past the end of the file (size {cursor.Length})",
                };
                GgufThrow.Invalid(cursor.Path, problem);
            }
        }
    }

    private static long ReadAlignment(byte* start, string path, GgufLayout layout)
    {
        if (!layout.MetadataByKey.TryGetValue(GgufFormat.AlignmentKey, out var entry))
        {
            return GgufFormat.DefaultAlignment;
        }

        if (entry.Type != GgufValueType.UInt32)
        {
            GgufThrow.Invalid(path, $"'{GgufFormat.AlignmentKey}' must be a UInt32 but is {(entry.IsArray ? "an array" : entry.Type.ToString())}");
        }

        var alignment = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(start + entry.ValueOffset, 4));
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            GgufThrow.Invalid(path, $"'{GgufFormat.AlignmentKey}' is {alignment}, which is not a power of two");
        }

        return alignment;
    }
}
