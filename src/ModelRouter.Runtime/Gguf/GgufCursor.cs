using System.Buffers.Binary;

namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// A forward reader over the mapped file in which every read is checked against the file's length first.
/// Positions are 64-bit because model files exceed 2 GiB; spans are only ever made for reads already checked.
/// </summary>
internal unsafe ref struct GgufCursor
{
    private readonly byte* start;

    public GgufCursor(byte* start, long length, string path)
    {
        this.start = start;
        Length = length;
        Path = path;
        Position = 0;
    }

    public long Length { get; }

    public string Path { get; }

    public long Position { get; private set; }

    public readonly long Remaining => Length - Position;

    public uint ReadUInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

    public ulong ReadUInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    public long ReadInt64(string what) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, what));

    /// <summary>Returns the next <paramref name="count"/> bytes and moves past them.</summary>
    public ReadOnlySpan<byte> Take(int count, string what)
    {
        Require(count, what);
        var span = new ReadOnlySpan<byte>(start + Position, count);
        Position += count;
        return span;
    }

    /// <summary>Moves past <paramref name="count"/> bytes without reading them.</summary>
    public void Skip(long count, string what)
    {
        Require(count, what);
        Position += count;
    }

    /// <summary>
    /// Reads a GGUF string header and returns the string's bytes. The length is checked against
    /// <paramref name="maxBytes"/> and the remaining file before any span is made.
    /// </summary>
    public ReadOnlySpan<byte> ReadStringBytes(long maxBytes, string what)
    {
        var at = Position;
        var length = ReadUInt64(what + " length");
        if (length > (ulong)maxBytes)
        {
            GgufThrow.Invalid(Path, $"{what} at offset {at} claims {length} bytes, more than the limit of {maxBytes}");
        }

        if (length > (ulong)Remaining)
        {
            GgufThrow.Invalid(Path, $"{what} at offset {at} claims {length} bytes but only {Remaining} remain before the end of the file (size {Length})");
        }

        return Take((int)length, what);
    }

    /// <summary>
    /// Moves past one string of an array without allocating; the caller formats an error only on failure,
    /// which keeps validation of 100k-element token arrays cheap.
    /// </summary>
    public StringSkip TrySkipString(long maxBytes, out ulong length)
    {
        length = 0;
        if (Remaining < GgufFormat.StringHeaderBytes)
        {
            return StringSkip.HeaderTruncated;
        }

        length = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(start + Position, 8));
        if (length > (ulong)maxBytes)
        {
            return StringSkip.TooLong;
        }

        if (length > (ulong)(Remaining - GgufFormat.StringHeaderBytes))
        {
            return StringSkip.PastEnd;
        }

        Position += GgufFormat.StringHeaderBytes + (long)length;
        return StringSkip.Ok;
    }

    private readonly void Require(long count, string what)
    {
        if (count < 0 || count > Remaining)
        {
            GgufThrow.Truncated(Path, Length, Position, count - Remaining, what);
        }
    }
}

/// <summary>Outcome of <see cref="GgufCursor.TrySkipString"/>.</summary>
internal enum StringSkip
{
    Ok,
    HeaderTruncated,
    TooLong,
    PastEnd,
}
