using System.Buffers;

namespace ModelRouter.Protocol;

/// <summary>
/// One frame as read from the connection. <see cref="Payload"/> is a slice of the reader's buffer: valid only until
/// the reader is advanced past it (copy what must outlive the read loop iteration).
/// </summary>
public readonly struct Frame
{
    public Frame(FrameHeader header, ReadOnlySequence<byte> payload)
    {
        Header = header;
        Payload = payload;
    }

    public FrameHeader Header { get; }

    public ReadOnlySequence<byte> Payload { get; }

    public FrameType Type => Header.Type;

    public FrameFlags Flags => Header.Flags;

    public uint RequestId => Header.RequestId;

    /// <summary>
    /// The payload as one span: the buffer itself when it is one segment, else a pooled copy returned on dispose.
    /// Use as <c>using var payload = frame.LeasePayload();</c> and parse <c>payload.Span</c>.
    /// </summary>
    public PayloadLease LeasePayload() => new(Payload);
}
