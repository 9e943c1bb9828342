using System.Buffers.Binary;
using System.Text.Unicode;

namespace ModelRouter.Protocol;

/// <summary>
/// Sequential little-endian reads over one contiguous payload. Every read is bounds-checked and throws a non-fatal
/// <see cref="ProtocolException"/> (the frame is bad, the framing is not). Strings are <c>u32 length + UTF-8</c> and
/// come back as validated spans into the payload: no allocation.
/// </summary>
public ref struct PayloadReader
{
    private readonly ReadOnlySpan<byte> payload;
    private int position;

    public PayloadReader(ReadOnlySpan<byte> payload)
    {
        this.payload = payload;
        position = 0;
    }

    public readonly int Remaining => payload.Length - position;

    public readonly int Position => position;

    public byte ReadByte() => Take(1)[0];

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public float ReadSingle() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

    public double ReadDouble() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

    /// <summary>A u32 that must fit in an int (counts, sizes); larger is a bad frame.</summary>
    public int ReadCount(string field)
    {
        var value = ReadUInt32();
        if (value > int.MaxValue)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"{field} out of range: {value}");
        }

        return (int)value;
    }

    /// <summary>A u64 that must fit in a long (durations in nanoseconds, byte counts, counters).</summary>
    public long ReadInt64(string field)
    {
        var value = ReadUInt64();
        if (value > long.MaxValue)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"{field} out of range: {value}");
        }

        return (long)value;
    }

    /// <summary>Reserved bytes: must be zero, so that a later version can give them meaning.</summary>
    public void ReadReserved(int count)
    {
        if (Take(count).ContainsAnyExcept((byte)0))
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, "reserved payload bytes are not zero");
        }
    }

    public ReadOnlySpan<byte> ReadBytes(int count) => Take(count);

    /// <summary>
    /// A length-prefixed UTF-8 string, validated. Longer than <paramref name="maxBytes"/> fails with
    /// <paramref name="tooLongCode"/>.
    /// </summary>
    public ReadOnlySpan<byte> ReadString(int maxBytes, string field, ErrorCode tooLongCode = ErrorCode.InvalidArgument)
    {
        var length = ReadUInt32();
        if (length > (uint)Remaining)
        {
            ThrowHelper.Truncated(length > int.MaxValue ? int.MaxValue : (int)length, Remaining);
        }

        if (length > (uint)maxBytes)
        {
            ThrowHelper.Payload(tooLongCode, $"{field} is {length} bytes, the limit is {maxBytes}");
        }

        var bytes = Take((int)length);
        if (!Utf8.IsValid(bytes))
        {
            ThrowHelper.Payload(ErrorCode.InvalidUtf8, $"{field} is not valid UTF-8");
        }

        return bytes;
    }

    /// <summary>Trailing bytes are an error: a payload is exactly its layout.</summary>
    public readonly void EnsureEnd()
    {
        if (position != payload.Length)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"{payload.Length - position} unexpected trailing payload bytes");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if ((uint)count > (uint)Remaining)
        {
            ThrowHelper.Truncated(count, Remaining);
        }

        var slice = payload.Slice(position, count);
        position += count;
        return slice;
    }
}
