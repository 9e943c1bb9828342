using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// A metadata array read in place from the mapping: numeric arrays as spans, string and nested arrays
/// enumerated lazily, so a 128k-token vocabulary is walked without copying it. Valid until the file is disposed.
/// </summary>
public readonly unsafe struct GgufArray
{
    private readonly GgufFile file;
    private readonly long offset;

    internal GgufArray(GgufFile file, GgufValueType elementType, long count, long offset, long byteLength)
    {
        this.file = file;
        this.offset = offset;
        ElementType = elementType;
        Count = count;
        ByteLength = byteLength;
    }

    /// <summary>The type of every element.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>Number of elements.</summary>
    public long Count { get; }

    /// <summary>Encoded bytes of all elements.</summary>
    public long ByteLength { get; }

    /// <summary>The encoded elements exactly as stored (little-endian; bools as one byte each).</summary>
    public ReadOnlySpan<byte> RawBytes => new(Start, checked((int)ByteLength));

    private byte* Start => (file ?? throw new InvalidOperationException("Default GgufArray has no file.")).Base + offset;

    /// <summary>
    /// The elements of a numeric array as a span over the mapping. <typeparamref name="T"/> must match the
    /// element type exactly (e.g. <see cref="int"/> for Int32); bool arrays are read through <see cref="RawBytes"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The element type is not <typeparamref name="T"/>.</exception>
    public ReadOnlySpan<T> AsSpan<T>()
        where T : unmanaged
    {
        if (GgufTypeMap.Of<T>() is not { } expected || expected != ElementType || expected == GgufValueType.Bool)
        {
            throw new InvalidOperationException($"The array holds {ElementType} elements, which cannot be read as {typeof(T).Name}.");
        }

        // GGUF is little-endian and so is every platform .NET runs this on; elements may be unaligned, which
        // x64 and arm64 loads tolerate.
        return MemoryMarshal.Cast<byte, T>(RawBytes);
    }

    /// <summary>Enumerates a string array's elements as UTF-8 spans over the mapping.</summary>
    public StringEnumerator EnumerateStrings()
    {
        Expect(GgufValueType.String);
        return new StringEnumerator(file, offset, Count);
    }

    /// <summary>Enumerates an array of arrays.</summary>
    public ArrayEnumerator EnumerateArrays()
    {
        Expect(GgufValueType.Array);
        return new ArrayEnumerator(file, offset, Count);
    }

    /// <summary>Decodes a string array into managed strings (allocates; for tools and tests).</summary>
    public string[] ToStringArray()
    {
        var result = new string[checked((int)Count)];
        var i = 0;
        foreach (var utf8 in EnumerateStrings())
        {
            result[i++] = Encoding.UTF8.GetString(utf8);
        }

        return result;
    }

    private void Expect(GgufValueType type)
    {
        if (ElementType != type)
        {
            throw new InvalidOperationException($"The array holds {ElementType} elements, not {type}.");
        }
    }

    /// <summary>Walks a string array; every length was checked against the file when it was opened.</summary>
    public ref struct StringEnumerator
    {
        private readonly GgufFile file;
        private readonly long count;
        private long position;
        private long index;

        internal StringEnumerator(GgufFile file, long position, long count)
        {
            this.file = file;
            this.position = position;
            this.count = count;
            index = -1;
            Current = default;
        }

        /// <summary>The current element's UTF-8 bytes.</summary>
        public ReadOnlySpan<byte> Current { get; private set; }

        /// <summary>Returns this enumerator (for <c>foreach</c>).</summary>
        public readonly StringEnumerator GetEnumerator() => this;

        /// <summary>Moves to the next element.</summary>
        public bool MoveNext()
        {
            if (++index >= count)
            {
                return false;
            }

            var at = file.Base + position;
            var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(at, 8));
            Current = new ReadOnlySpan<byte>(at + 8, length);
            position += 8 + length;
            return true;
        }
    }

    /// <summary>Walks an array of arrays; every nested header was checked when the file was opened.</summary>
    public struct ArrayEnumerator
    {
        private readonly GgufFile file;
        private readonly long count;
        private long position;
        private long index;

        internal ArrayEnumerator(GgufFile file, long position, long count)
        {
            this.file = file;
            this.position = position;
            this.count = count;
            index = -1;
            Current = default;
        }

        /// <summary>The current nested array.</summary>
        public GgufArray Current { get; private set; }

        /// <summary>Returns this enumerator (for <c>foreach</c>).</summary>
        public readonly ArrayEnumerator GetEnumerator() => this;

        /// <summary>Moves to the next nested array.</summary>
        public bool MoveNext()
        {
            if (++index >= count)
            {
                return false;
            }

            var at = file.Base + position;
            var elementType = (GgufValueType)BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(at, 4));
            var elements = (long)BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(at + 4, 8));
            var start = position + GgufFormat.ArrayHeaderBytes;
            var length = GgufFile.MeasureElements(file.Base, start, elementType, elements);
            Current = new GgufArray(file, elementType, elements, start, length);
            position = start + length;
            return true;
        }
    }
}
