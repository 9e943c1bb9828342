using System.Text;
using System.Text.Unicode;

namespace ModelRouter.Runtime.Gguf;

/// <summary>The tensor index half of the parser: shapes, types and data ranges.</summary>
internal static unsafe partial class GgufParser
{
    private static void ReadTensorIndex(ref GgufCursor cursor, GgufLayout layout, long tensorCount)
    {
        var path = cursor.Path;
        for (long i = 0; i < tensorCount; i++)
        {
            var nameAt = cursor.Position;

            // Read with the generous key limit so that an over-long name gets its own precise message below.
            var nameBytes = cursor.ReadStringBytes(GgufFormat.MaxKeyBytes, $"the name of tensor {i}");
            if (nameBytes.IsEmpty)
            {
                GgufThrow.Invalid(path, $"tensor {i} at offset {nameAt} has an empty name");
            }

            if (nameBytes.Length > GgufFormat.MaxTensorNameBytes)
            {
                GgufThrow.Invalid(path, $"tensor {i} at offset {nameAt} has a name of {nameBytes.Length} bytes; ggml allows at most {GgufFormat.MaxTensorNameBytes}");
            }

            if (!Utf8.IsValid(nameBytes))
            {
                GgufThrow.Invalid(path, $"the name of tensor {i} at offset {nameAt} is not valid UTF-8");
            }

            var name = Encoding.UTF8.GetString(nameBytes);
            if (layout.TensorsByName.ContainsKey(name))
            {
                GgufThrow.Invalid(path, $"duplicate tensor name '{name}' (tensor {i} at offset {nameAt})");
            }

            var dims = ReadShape(ref cursor, name, out var elementCount);
            var type = ReadTensorType(ref cursor, name);
            if (!GgmlTypeTraits.TryGetByteSize(type.Type, dims[0], elementCount, out var byteSize))
            {
                var problem = dims[0] % type.BlockSize != 0
                    ? $"tensor '{name}' of type {type.Name} has rows of {dims[0]} elements, not a multiple of the block size {type.BlockSize}"
                    : $"tensor '{name}' of type {type.Name} with {elementCount} elements has a byte size that overflows 64 bits";
                GgufThrow.Invalid(path, problem);
            }

            var offsetAt = cursor.Position;
            var offset = cursor.ReadUInt64($"the data offset of tensor '{name}'");
            if (offset > long.MaxValue)
            {
                GgufThrow.Invalid(path, $"tensor '{name}' data offset {offset} (at offset {offsetAt}) is past any possible end of the file");
            }

            if ((offset & (ulong)(layout.Alignment - 1)) != 0)
            {
                GgufThrow.Invalid(path, $"tensor '{name}' data offset {offset} is not a multiple of the alignment {layout.Alignment}");
            }

            var tensor = new GgufTensorInfo(name, dims, type.Type, elementCount, (long)offset, byteSize);
            layout.Tensors.Add(tensor);
            layout.TensorsByName.Add(name, tensor);
        }
    }

    private static long[] ReadShape(ref GgufCursor cursor, string name, out long elementCount)
    {
        var path = cursor.Path;
        var nDims = cursor.ReadUInt32($"the dimension count of tensor '{name}'");
        if (nDims > GgufFormat.MaxDimensions)
        {
            GgufThrow.Invalid(path, $"tensor '{name}' has {nDims} dimensions; ggml supports at most {GgufFormat.MaxDimensions}");
        }

        // ggml pads missing dimensions with 1, so a zero-dimension tensor is a scalar of one element.
        var dims = new long[Math.Max(nDims, 1)];
        dims[0] = 1;
        elementCount = 1;
        for (var d = 0; d < nDims; d++)
        {
            var size = cursor.ReadInt64($"dimension {d} of tensor '{name}'");
            if (size <= 0)
            {
                GgufThrow.Invalid(path, $"tensor '{name}' dimension {d} is {size}; dimensions must be positive");
            }

            if (elementCount > long.MaxValue / size)
            {
                GgufThrow.Invalid(path, $"tensor '{name}' element count overflows 64 bits at dimension {d} ({size})");
            }

            elementCount *= size;
            dims[d] = size;
        }

        return dims;
    }

    private static GgmlTypeInfo ReadTensorType(ref GgufCursor cursor, string name)
    {
        var at = cursor.Position;
        var raw = cursor.ReadUInt32($"the ggml type of tensor '{name}'");
        if (!GgmlTypeTraits.TryGet(raw, out var info))
        {
            GgufThrow.Invalid(cursor.Path, $"tensor '{name}' has unknown or retired ggml type {raw} at offset {at}");
        }

        return info;
    }

    /// <summary>
    /// Turns relative offsets into absolute ones once the data section's start is known, and checks that every
    /// tensor's bytes lie inside the file and that no two tensors share bytes.
    /// </summary>
    private static void ResolveTensorRanges(string path, long fileLength, GgufLayout layout)
    {
        var dataLength = fileLength - layout.DataOffset;
        var tensors = layout.Tensors;
        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (t.RelativeOffset > dataLength || t.ByteSize > dataLength - t.RelativeOffset)
            {
                // UInt128 so the message is right even for offsets near 2^63.
                var begin = (UInt128)(ulong)layout.DataOffset + (ulong)t.RelativeOffset;
                var end = begin + (ulong)t.ByteSize;
                GgufThrow.Invalid(path, $"tensor '{t.Name}' data [{begin}, {end}) lies past the end of the file (size {fileLength})");
            }

            t.ResolveAgainst(layout.DataOffset);
        }

        var byOffset = tensors.ToArray();
        Array.Sort(byOffset, static (a, b) => a.RelativeOffset.CompareTo(b.RelativeOffset));
        for (var i = 1; i < byOffset.Length; i++)
        {
            var previous = byOffset[i - 1];
            var current = byOffset[i];
            if (current.AbsoluteOffset < previous.AbsoluteEnd)
            {
                GgufThrow.Invalid(path, $"tensor '{current.Name}' data [{current.AbsoluteOffset}, {current.AbsoluteEnd}) overlaps tensor '{previous.Name}' data [{previous.AbsoluteOffset}, {previous.AbsoluteEnd})");
            }
        }
    }
}
