using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using ModelRouter.Protocol;

namespace ModelRouter.Cli.Soak;

/// <summary>One frame the server sent, reduced to what the soak checks.</summary>
internal readonly record struct RawAnswer(FrameType Type, uint RequestId, bool Final, ErrorCode Error);

/// <summary>
/// A connection that writes whatever bytes it is given (bad frames, half frames, a frame a few bytes at a time) and
/// reads the server's frames one by one: what our client would never send, and what it would never show.
/// </summary>
internal sealed class RawConnection : IAsyncDisposable
{
    private static readonly ProtocolLimits Receive = ProtocolLimits.Default with { MaxPayloadBytes = ProtocolLimits.AbsoluteMaxPayloadBytes };
    private readonly Socket socket;
    private readonly NetworkStream stream;
    private readonly PipeReader reader;

    private RawConnection(Socket socket, int readBuffer)
    {
        this.socket = socket;
        stream = new NetworkStream(socket, ownsSocket: true);
        reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: readBuffer, minimumReadSize: Math.Min(readBuffer, 1024), leaveOpen: true));
    }

    /// <summary>Connects; with <paramref name="hello"/> also authenticates and waits for hello-ok.</summary>
    public static async Task<RawConnection> ConnectAsync(EndPoint endpoint, bool hello, CancellationToken cancellation, int readBuffer = 16 * 1024)
    {
        var socket = endpoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (readBuffer < 16 * 1024)
        {
            socket.ReceiveBufferSize = readBuffer; // a slow reader: the kernel's window stays small too
        }

        try
        {
            await socket.ConnectAsync(endpoint, cancellation).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new RawConnection(socket, readBuffer);
        if (hello)
        {
            await connection.SendAsync(Frames.Hello(), cancellation).ConfigureAwait(false);
            var answer = await connection.NextAsync(cancellation).ConfigureAwait(false);
            if (answer is not { Type: FrameType.HelloOk })
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw new IOException($"the handshake was answered with {answer?.ToString() ?? "a close"}");
            }
        }

        return connection;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellation) =>
        await stream.WriteAsync(bytes, cancellation).ConfigureAwait(false);

    /// <summary>Sends in pieces with a pause between them: a slow sender (well above the server's minimum rate).</summary>
    public async Task SendSlowlyAsync(ReadOnlyMemory<byte> bytes, int piece, TimeSpan pause, CancellationToken cancellation)
    {
        for (var offset = 0; offset < bytes.Length; offset += piece)
        {
            await stream.WriteAsync(bytes.Slice(offset, Math.Min(piece, bytes.Length - offset)), cancellation).ConfigureAwait(false);
            await Task.Delay(pause, cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>The next frame, or null when the server closed the connection (or reset it).</summary>
    public async Task<RawAnswer?> NextAsync(CancellationToken cancellation, TimeSpan? readPause = null)
    {
        while (true)
        {
            ReadResult read;
            try
            {
                read = await reader.ReadAsync(cancellation).ConfigureAwait(false);
            }
            catch (IOException)
            {
                return null; // reset by the server: a close
            }

            var buffer = read.Buffer;
            var parsed = false;
            try
            {
                if (FrameReader.TryReadFrame(ref buffer, Receive, out var frame))
                {
                    parsed = true;
                    var error = ErrorCode.None;
                    if (frame.Type == FrameType.Error)
                    {
                        using var payload = frame.LeasePayload();
                        error = MessageReader.ReadError(payload.Span).Code;
                    }

                    return new RawAnswer(frame.Type, frame.RequestId, (frame.Flags & FrameFlags.Final) != 0, error);
                }

                if (read.IsCompleted)
                {
                    return null;
                }
            }
            finally
            {
                // After a frame the rest is not examined yet (the next frame may already be there); else wait for more.
                if (parsed)
                {
                    reader.AdvanceTo(buffer.Start);
                }
                else
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }

            if (readPause is { } pause)
            {
                await Task.Delay(pause, cancellation).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads until the terminal frame of <paramref name="requestId"/> (or a connection error, or the close).</summary>
    public async Task<RawAnswer?> TerminalAsync(uint requestId, CancellationToken cancellation, TimeSpan? readPause = null)
    {
        while (await NextAsync(cancellation, readPause).ConfigureAwait(false) is { } answer)
        {
            if ((answer.RequestId == requestId && answer.Final) || (answer.RequestId == 0 && answer.Type == FrameType.Error))
            {
                return answer;
            }
        }

        return null;
    }

    /// <summary>Closes without a goodbye (the half-sent frame case).</summary>
    public void Abort() => socket.Close(0);

    public async ValueTask DisposeAsync()
    {
        await reader.CompleteAsync().ConfigureAwait(false);
        await stream.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Frames as bytes, the good ones through our writer and the bad ones by hand.</summary>
internal static class Frames
{
    public static byte[] Hello() => Write(w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "soak-raw", Token = SoakServer.Token }));

    public static byte[] Generate(uint id, string prompt, int maxTokens) =>
        Write(w => FrameWriter.WriteGenerate(w, id, new GenerateRequest { Prompt = prompt, MaxTokens = maxTokens, Temperature = 0.7f }));

    public static byte[] Ping(uint id, ulong value) => Write(w => FrameWriter.WritePing(w, id, value));

    public static byte[] Cancel(uint id) => Write(w => FrameWriter.WriteCancel(w, id));

    /// <summary>A 16-byte header: magic, version 1, the type, no flags, the id and a declared payload length.</summary>
    public static byte[] Header(byte type, uint id, uint length, byte magic0 = ProtocolConstants.Magic0)
    {
        var header = new byte[ProtocolConstants.HeaderSize];
        header[ProtocolConstants.MagicOffset] = magic0;
        header[ProtocolConstants.MagicOffset + 1] = ProtocolConstants.Magic1;
        header[ProtocolConstants.VersionOffset] = ProtocolConstants.Version;
        header[ProtocolConstants.TypeOffset] = type;
        BitConverter.TryWriteBytes(header.AsSpan(ProtocolConstants.RequestIdOffset), id);
        BitConverter.TryWriteBytes(header.AsSpan(ProtocolConstants.PayloadLengthOffset), length);
        return header;
    }

    /// <summary>A generate frame whose payload lost its last bytes, with a header that declares the shorter length.</summary>
    public static byte[] TruncatedGenerate(uint id)
    {
        var frame = Generate(id, "truncated prompt", 4);
        var cut = frame[..^3];
        BitConverter.TryWriteBytes(cut.AsSpan(ProtocolConstants.PayloadLengthOffset), (uint)(cut.Length - ProtocolConstants.HeaderSize));
        return cut;
    }

    /// <summary>A generate frame whose prompt is not UTF-8 (a lone continuation byte and 0xFF).</summary>
    public static byte[] InvalidUtf8Generate(uint id)
    {
        var frame = Generate(id, "soak-bad-utf8-XX", 4);
        var at = frame.AsSpan().IndexOf("XX"u8);
        frame[at] = 0x80;
        frame[at + 1] = 0xFF;
        return frame;
    }

    private static byte[] Write(Action<ArrayBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
