using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using ModelRouter.Protocol;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>
/// One client connection: a PipeReader loop that reads frames (declared length checked before the body is awaited),
/// a handshake that must come first, request dispatch, and an outbound pipe drained to the socket by its own pump.
/// Backpressure: while more than the configured bytes wait to be sent, the connection stops reading requests.
/// A malformed header or a client that vanishes closes the connection and cancels everything it had in flight;
/// other connections never notice.
/// </summary>
public sealed partial class ClientConnection : IAsyncDisposable
{
    private static long nextId;

    private readonly Stream transport;
    private readonly ServerContext server;
    private readonly PipeReader input;
    private readonly Pipe output = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Lock writeGate = new();
    private readonly ConcurrentDictionary<uint, CancellationTokenSource> inFlight = new();
    private readonly CancellationTokenSource closing = new();
    private long pendingOutputBytes;
    private TaskCompletionSource outputDrained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int disposed;
    private bool outputClosed;
    private bool authenticated;
    private RequestCaller caller;

    public ClientConnection(Stream transport, string remote, ServerContext server)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(server);
        this.transport = transport;
        this.server = server;
        Remote = remote;
        Id = Interlocked.Increment(ref nextId);
        input = PipeReader.Create(transport, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
    }

    public long Id { get; }

    public string Remote { get; }

    public int RequestsInFlight => inFlight.Count;

    /// <summary>Serves the connection until the client leaves, a fatal protocol error, or the server stops.</summary>
    public async Task RunAsync(CancellationToken serverStopping)
    {
        server.Pipeline.ConnectionOpened();
        ServerLog.ConnectionOpened(server.Logger, Id, Remote);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(serverStopping, closing.Token);
        var pump = PumpOutputAsync(linked.Token);
        var reason = "client closed the connection";
        try
        {
            reason = await ReadLoopAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            reason = serverStopping.IsCancellationRequested ? "server stopping" : "closed";
        }
        catch (IOException ex)
        {
            reason = "transport error: " + ex.Message;
        }
        finally
        {
            // Everything this client had in flight stops and frees its sequence and slot.
            foreach (var request in inFlight.Values)
            {
                request.Cancel();
            }

            lock (writeGate)
            {
                outputClosed = true; // late frames from workers for this connection are dropped from here on
                output.Writer.Complete();
            }

            await pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await input.CompleteAsync().ConfigureAwait(false);
            server.Pipeline.ConnectionClosed();
            ServerLog.ConnectionClosed(server.Logger, Id, reason);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        await closing.CancelAsync().ConfigureAwait(false);
        await transport.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<string> ReadLoopAsync(CancellationToken cancellation)
    {
        while (true)
        {
            await WaitForOutputRoomAsync(cancellation).ConfigureAwait(false);
            var result = await input.ReadAsync(cancellation).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            try
            {
                var limits = authenticated ? server.Limits : server.Limits.ForHandshake();
                while (FrameReader.TryReadFrame(ref buffer, limits, out var frame))
                {
                    consumed = buffer.Start;
                    if (!Dispatch(frame))
                    {
                        return "closed after a fatal protocol error";
                    }

                    limits = authenticated ? server.Limits : server.Limits.ForHandshake();
                }

                consumed = buffer.Start;
                if (result.IsCompleted)
                {
                    return buffer.IsEmpty ? "client closed the connection" : "client closed the connection mid-frame";
                }
            }
            catch (ProtocolException ex)
            {
                // A header we cannot trust: say why on request 0 and close; the byte stream has no resync point.
                ServerLog.BadFrame(server.Logger, Id, ex.Message);
                WriteError(0, ex.Code, ex.Message);
                return "fatal protocol error: " + ex.Message;
            }
            finally
            {
                input.AdvanceTo(consumed, examined);
            }
        }
    }

    /// <summary>Handles one frame; false closes the connection.</summary>
    private bool Dispatch(in Frame frame)
    {
        if (!authenticated)
        {
            return Handshake(frame);
        }

        try
        {
            return DispatchRequest(frame);
        }
        catch (ProtocolException ex) when (!ex.IsFatal)
        {
            // A bad payload fails its request only; the connection stays.
            ServerLog.BadFrame(server.Logger, Id, ex.Message);
            WriteError(frame.RequestId, ex.Code, ex.Message);
            return true;
        }
    }

    private bool Handshake(in Frame frame)
    {
        if (frame.Type != FrameType.Hello)
        {
            WriteError(0, ErrorCode.Unauthenticated, "the first frame must be hello");
            return false;
        }

        HelloMessage hello;
        using (var payload = frame.LeasePayload())
        {
            hello = MessageReader.ReadHello(payload.Span, server.Limits.ForHandshake());
        }

        if (hello.MaxVersion < ProtocolConstants.Version)
        {
            WriteError(0, ErrorCode.UnsupportedVersion, $"this server speaks protocol version {ProtocolConstants.Version}");
            return false;
        }

        var caller = server.Pipeline.Authenticate(System.Text.Encoding.UTF8.GetBytes(hello.Token));
        authenticated = caller is not null;
        this.caller = caller ?? default;
        if (!authenticated)
        {
            WriteError(0, ErrorCode.AuthenticationFailed, "wrong token");
            return false;
        }

        Send(0, (writer, _) => FrameWriter.WriteHelloOk(writer, ServerHello.FromLimits(server.Limits, this.caller.IsAdmin, (ulong)Id, "modelrouter")));

        return true;
    }
}
