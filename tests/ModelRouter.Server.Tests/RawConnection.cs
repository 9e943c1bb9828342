using System.Buffers;
using System.Net;
using System.Net.Sockets;
using ModelRouter.Protocol;

namespace ModelRouter.Server.Tests;

/// <summary>One server frame as a test sees it: type, flags, id, and the fields tests check.</summary>
internal sealed record ServerFrame(FrameType Type, FrameFlags Flags, uint RequestId, byte[] Payload)
{
    public bool IsFinal => (Flags & FrameFlags.Final) != 0;

    public ErrorCode ErrorCode => Type == FrameType.Error ? MessageReader.ReadError(Payload).Code : ErrorCode.None;

    public string ErrorMessage => Type == FrameType.Error ? MessageReader.ReadError(Payload).GetMessage() : "";

    public override string ToString() => Type == FrameType.Error ? $"error {(int)ErrorCode} on {RequestId}: {ErrorMessage}" : $"{Type} on {RequestId}";
}

/// <summary>
/// A client that speaks raw bytes, for what the real client never sends: hand-made and broken frames, reused ids, slow
/// senders. Every read is bounded by a timeout, so a server that stays silent fails the test instead of hanging it.
/// </summary>
internal sealed class RawConnection : IAsyncDisposable
{
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(20);

    private readonly Socket socket;
    private readonly NetworkStream stream;
    private readonly byte[] buffer = new byte[64 * 1024];
    private byte[] pending = [];

    private RawConnection(Socket socket)
    {
        this.socket = socket;
        stream = new NetworkStream(socket, ownsSocket: true);
    }

    public bool Closed { get; private set; }

    public static async Task<RawConnection> ConnectAsync(EndPoint endpoint)
    {
        var socket = endpoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint, TestContext.Current.CancellationToken);
        return new RawConnection(socket);
    }

    /// <summary>Connects and completes the handshake (hello, hello-ok).</summary>
    public static async Task<RawConnection> OpenAsync(EndPoint endpoint, string token = TestServer.Token)
    {
        var connection = await ConnectAsync(endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "raw", Token = token })));
        var ok = await connection.NextAsync();
        Assert.True(ok is { Type: FrameType.HelloOk }, $"expected hello-ok, got {ok?.ToString() ?? "a closed connection"}");
        return connection;
    }

    public static byte[] Frame(Action<IBufferWriter<byte>> write)
    {
        var writer = new ArrayBufferWriter<byte>();
        write(writer);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>A header with any type, flags and id, and the payload as given (its length in the header).</summary>
    public static byte[] RawFrame(byte type, uint requestId, ReadOnlySpan<byte> payload, ushort flags = 0)
    {
        var frame = new byte[ProtocolConstants.HeaderSize + payload.Length];
        frame[0] = ProtocolConstants.Magic0;
        frame[1] = ProtocolConstants.Magic1;
        frame[2] = ProtocolConstants.Version;
        frame[3] = type;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), flags);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), requestId);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(12), (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(ProtocolConstants.HeaderSize));
        return frame;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes) => await stream.WriteAsync(bytes, TestContext.Current.CancellationToken);

    public Task SendAsync(byte[] bytes) => SendAsync(bytes.AsMemory());

    /// <summary>The next frame, or null when the server closed the connection; throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public async Task<ServerFrame?> NextAsync(TimeSpan? timeout = null)
    {
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(pending);
            if (FrameReader.TryReadFrame(ref sequence, new ProtocolLimits { MaxPayloadBytes = 16 << 20 }, out var frame))
            {
                var result = new ServerFrame(frame.Type, frame.Flags, frame.RequestId, frame.Payload.ToArray());
                pending = sequence.ToArray();
                return result;
            }

            if (Closed)
            {
                return null;
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            cts.CancelAfter(timeout ?? ReadTimeout);
            int n;
            try
            {
                n = await stream.ReadAsync(buffer, cts.Token);
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no frame from the server within {(timeout ?? ReadTimeout).TotalSeconds} s");
            }
            catch (IOException)
            {
                n = 0; // reset by the server: closed
            }

            if (n == 0)
            {
                Closed = true;
                continue;
            }

            pending = [.. pending, .. buffer.AsSpan(0, n)];
        }
    }

    /// <summary>Reads until the server closes; returns every frame it sent before that.</summary>
    public async Task<List<ServerFrame>> ReadUntilClosedAsync()
    {
        var frames = new List<ServerFrame>();
        while (await NextAsync() is { } frame)
        {
            frames.Add(frame);
        }

        return frames;
    }

    /// <summary>Reads until the pong for <paramref name="marker"/>; returns what came before it (the connection must stay open).</summary>
    public async Task<List<ServerFrame>> PingAsync(ulong marker)
    {
        await SendAsync(Frame(w => FrameWriter.WritePing(w, 0, marker)));
        var frames = new List<ServerFrame>();
        while (true)
        {
            var frame = await NextAsync() ?? throw new InvalidOperationException($"the server closed the connection; before that it sent: {string.Join("; ", frames)}");
            if (frame.Type == FrameType.Pong && MessageReader.ReadPing(frame.Payload) == marker)
            {
                return frames;
            }

            frames.Add(frame);
        }
    }

    public async ValueTask DisposeAsync() => await stream.DisposeAsync();

    /// <summary>Waits until <paramref name="condition"/> holds (server state the test cannot be told about otherwise).</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(ReadTimeout);
        while (!condition())
        {
            try
            {
                await Task.Delay(5, deadline.Token);
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out waiting until {what}");
            }
        }
    }
}
