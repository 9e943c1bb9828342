using System.Buffers;
using static ModelRouter.Protocol.ProtocolConstants;

namespace ModelRouter.Protocol;

/// <summary>
/// Frame writers, one per message kind, into an <see cref="IBufferWriter{T}"/> (a <c>PipeWriter</c> in practice).
/// Each sizes the frame first, takes one span, writes header and payload and advances once: nothing is allocated.
/// Writers do not flush and are not thread-safe: serialise writers of one connection. Limits are the receiver's to
/// enforce; a writer only refuses a payload above <see cref="ProtocolLimits.AbsoluteMaxPayloadBytes"/>.
/// </summary>
public static partial class FrameWriter
{
    /// <summary>Writes a frame with an already encoded payload.</summary>
    public static void WriteFrame(IBufferWriter<byte> output, FrameType type, FrameFlags flags, uint requestId, ReadOnlySpan<byte> payload)
    {
        var span = Begin(output, type, flags, requestId, payload.Length);
        payload.CopyTo(span);
        End(output, payload.Length);
    }

    /// <summary>Reserves a frame: writes the header and returns the payload span of exactly <paramref name="payloadLength"/> bytes.</summary>
    internal static Span<byte> Begin(IBufferWriter<byte> output, FrameType type, FrameFlags flags, uint requestId, int payloadLength)
    {
        ArgumentNullException.ThrowIfNull(output);
        if ((uint)payloadLength > ProtocolLimits.AbsoluteMaxPayloadBytes)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(payloadLength), $"a payload of {payloadLength} bytes exceeds the protocol's absolute limit");
        }

        var span = output.GetSpan(HeaderSize + payloadLength);
        FrameHeader.Write(span, type, flags, requestId, payloadLength);
        return span.Slice(HeaderSize, payloadLength);
    }

    internal static void End(IBufferWriter<byte> output, int payloadLength) => output.Advance(HeaderSize + payloadLength);

    internal static void End(IBufferWriter<byte> output, int payloadLength, in PayloadWriter writer)
    {
        if (writer.Position != payloadLength)
        {
            throw new InvalidOperationException($"frame sized {payloadLength} bytes but {writer.Position} were written");
        }

        output.Advance(HeaderSize + payloadLength);
    }
}
