using System.Buffers;
using static ModelRouter.Protocol.ProtocolConstants;

namespace ModelRouter.Protocol;

/// <summary>
/// Static, synchronous framing over a <see cref="ReadOnlySequence{T}"/> (wire diagram in <see cref="ProtocolConstants"/>).
/// The caller owns the pipe:
/// <code>
/// var result = await reader.ReadAsync(ct);
/// var buffer = result.Buffer;
/// try
/// {
///     while (FrameReader.TryReadFrame(ref buffer, limits, out var frame)) { Dispatch(frame); }
/// }
/// finally
/// {
///     reader.AdvanceTo(buffer.Start, buffer.End); // consumed up to the last whole frame, examined everything
/// }
/// </code>
/// </summary>
public static class FrameReader
{
    /// <summary>
    /// Reads one frame from the front of <paramref name="buffer"/>. Returns false, leaving the buffer untouched, when
    /// the frame is not complete yet. The declared length is checked against <see cref="ProtocolLimits.MaxPayloadBytes"/>
    /// as soon as the header is there, before the payload is awaited.
    /// </summary>
    /// <exception cref="ProtocolException">
    /// Fatal (<see cref="ProtocolException.IsFatal"/>) for a bad header: magic, version, flags, reserved bytes, length
    /// over the limit. Non-fatal <see cref="ErrorCode.UnknownFrameType"/> for a well-framed frame of an undefined type:
    /// the buffer has then already been advanced past that frame, so the caller answers and keeps reading.
    /// </exception>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, in ProtocolLimits limits, out Frame frame)
    {
        frame = default;
        var first = buffer.FirstSpan;
        if (first.Length < HeaderSize)
        {
            return TryReadSplitHeader(ref buffer, limits, out frame);
        }

        var header = FrameHeader.Parse(first, limits.MaxPayloadBytes);
        return TryTakeFrame(ref buffer, header, out frame);
    }

    private static bool TryReadSplitHeader(ref ReadOnlySequence<byte> buffer, in ProtocolLimits limits, out Frame frame)
    {
        frame = default;
        Span<byte> header = stackalloc byte[HeaderSize];
        var available = (int)Math.Min(buffer.Length, HeaderSize);
        buffer.Slice(0, available).CopyTo(header);
        if (available < HeaderSize)
        {
            FrameHeader.ValidatePrefix(header[..available]);
            return false;
        }

        return TryTakeFrame(ref buffer, FrameHeader.Parse(header, limits.MaxPayloadBytes), out frame);
    }

    private static bool TryTakeFrame(ref ReadOnlySequence<byte> buffer, FrameHeader header, out Frame frame)
    {
        frame = default;
        long frameLength = HeaderSize + (long)header.PayloadLength;
        if (buffer.Length < frameLength)
        {
            return false;
        }

        var payload = buffer.Slice(HeaderSize, header.PayloadLength);
        buffer = buffer.Slice(frameLength);
        if (!FrameTypes.IsDefined(header.Type))
        {
            ThrowHelper.UnknownType(header.Type, header.RequestId);
        }

        frame = new Frame(header, payload);
        return true;
    }
}
