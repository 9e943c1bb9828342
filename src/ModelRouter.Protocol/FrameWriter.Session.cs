using System.Buffers;

namespace ModelRouter.Protocol;

public static partial class FrameWriter
{
    /// <summary>Hello (layout on <see cref="MessageReader.ReadHello"/>). Always request id 0.</summary>
    public static void WriteHello(IBufferWriter<byte> output, HelloMessage hello)
    {
        ArgumentNullException.ThrowIfNull(hello);
        var size = 4 + PayloadSize.OfString(hello.ClientName) + PayloadSize.OfString(hello.Token);
        var w = new PayloadWriter(Begin(output, FrameType.Hello, FrameFlags.None, ProtocolConstants.ConnectionRequestId, size));
        w.WriteUInt16(hello.MaxVersion);
        w.WriteReserved(2);
        w.WriteString(hello.ClientName);
        w.WriteString(hello.Token);
        End(output, size, w);
    }

    /// <summary>Hello-ok (layout on <see cref="MessageReader.ReadHelloOk"/>). Always request id 0.</summary>
    public static void WriteHelloOk(IBufferWriter<byte> output, ServerHello hello)
    {
        ArgumentNullException.ThrowIfNull(hello);
        var size = 28 + PayloadSize.OfString(hello.ServerName);
        var w = new PayloadWriter(Begin(output, FrameType.HelloOk, FrameFlags.Final, ProtocolConstants.ConnectionRequestId, size));
        w.WriteUInt16(hello.Version);
        w.WriteUInt16(hello.IsAdmin ? ProtocolConstants.SessionFlagAdmin : (ushort)0);
        w.WriteCount(hello.MaxPayloadBytes);
        w.WriteCount(hello.MaxPromptBytes);
        w.WriteCount(hello.MaxTokens);
        w.WriteCount(hello.MaxRequestsInFlight);
        w.WriteUInt64(hello.ConnectionId);
        w.WriteString(hello.ServerName);
        End(output, size, w);
    }

    /// <summary>Ping: the peer answers a pong with the same request id and value.</summary>
    public static void WritePing(IBufferWriter<byte> output, uint requestId, ulong value) =>
        WriteUInt64Frame(output, FrameType.Ping, FrameFlags.None, requestId, value);

    /// <summary>Pong: echoes a ping.</summary>
    public static void WritePong(IBufferWriter<byte> output, uint requestId, ulong value) =>
        WriteUInt64Frame(output, FrameType.Pong, FrameFlags.Final, requestId, value);

    /// <summary>Go-away (request id 0): the server drains; in-flight requests still complete.</summary>
    public static void WriteGoAway(IBufferWriter<byte> output, ReadOnlySpan<char> reason)
    {
        var size = PayloadSize.OfString(reason);
        var w = new PayloadWriter(Begin(output, FrameType.GoAway, FrameFlags.None, ProtocolConstants.ConnectionRequestId, size));
        w.WriteString(reason);
        End(output, size, w);
    }

    /// <summary>Error: ends request <paramref name="requestId"/>, or with id 0 reports a connection-level failure.</summary>
    public static void WriteError(IBufferWriter<byte> output, uint requestId, ErrorCode code, ReadOnlySpan<char> message)
    {
        var size = ErrorPayload.FixedSize + PayloadSize.OfString(message);
        var w = new PayloadWriter(Begin(output, FrameType.Error, FrameFlags.Final, requestId, size));
        w.WriteUInt16((ushort)code);
        w.WriteReserved(2);
        w.WriteString(message);
        End(output, size, w);
    }

    private static void WriteUInt64Frame(IBufferWriter<byte> output, FrameType type, FrameFlags flags, uint requestId, ulong value)
    {
        var w = new PayloadWriter(Begin(output, type, flags, requestId, sizeof(ulong)));
        w.WriteUInt64(value);
        End(output, sizeof(ulong), w);
    }
}
