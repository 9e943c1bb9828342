using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using ModelRouter.Protocol;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>
/// One client connection: a PipeReader loop that reads frames (declared length checked before the body is awaited),
/// a handshake that must come first, request dispatch, and an outbound pipe drained to the socket by its own pump.
/// Backpressure: while more than the configured bytes wait to be sent, the connection stops reading requests; while a
/// large frame is only partly received it holds a reservation in the server's <see cref="FrameBudget"/>.
/// A malformed header or a client that vanishes closes the connection and cancels everything it had in flight;
/// other connections never notice. A close the server decides (drain, timeout, fatal error) is graceful: reading
/// stops, the requests still in flight deliver their terminal frames, the output is flushed, then the transport closes.
/// </summary>
public sealed partial class ClientConnection : IAsyncDisposable
{
    /// <summary>The pipe reader's buffer: frames up to this size need no reservation in the frame budget.</summary>
    private const int ReadBufferSize = 16 * 1024;

    private static long nextId;

    private readonly Stream transport;
    private readonly ServerContext server;
    private readonly PipeReader input;
    private readonly Pipe output = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Lock writeGate = new();
    private readonly ConcurrentDictionary<uint, CancellationTokenSource> inFlight = new();

    /// <summary>Stops the read loop only: the server decided to close (drain, timeout); output still flows.</summary>
    private readonly CancellationTokenSource stopReading = new();

    /// <summary>Aborts everything, the output pump included: the client is gone or the close ran out of grace.</summary>
    private readonly CancellationTokenSource closing = new();

    private long pendingOutputBytes;
    private TaskCompletionSource outputDrained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? requestsEnded;
    private int disposed;
    private int goAwaySent;
    private bool outputClosed;
    private volatile bool authenticated;
    private RequestCaller caller;

    // The session version hello-ok chose (written before authenticated is set, read after): version 2 carries the
    // route stage in route-result and done, which a version 1 client would refuse as non-zero reserved bytes.
    private ushort sessionVersion = ProtocolConstants.Version;
    private string? stopReason;

    // Timeouts (read by the heartbeat on another thread; timestamps of server.Time).
    private readonly long openedTimestamp;
    private long lastReceiveTimestamp;
    private long frameStartTimestamp; // 0: no frame partly received
    private long frameBytes;
    private volatile bool waitingForBudget;
    private long partialFrameLength;
    private long reservedFrameBytes;

    public ClientConnection(Stream transport, string remote, ServerContext server)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(server);
        this.transport = transport;
        this.server = server;
        Remote = remote;
        Id = Interlocked.Increment(ref nextId);
        input = PipeReader.Create(transport, new StreamPipeReaderOptions(bufferSize: ReadBufferSize, leaveOpen: true));
        openedTimestamp = lastReceiveTimestamp = server.Time.GetTimestamp();
    }

    public long Id { get; }

    public string Remote { get; }

    public int RequestsInFlight => inFlight.Count;

    /// <summary>Whether the hello was accepted.</summary>
    public bool IsAuthenticated => authenticated;

    /// <summary>Bytes of the frame being received now (0 when none is partly received).</summary>
    public long PartialFrameBytes => Interlocked.Read(ref frameStartTimestamp) == 0 ? 0 : Interlocked.Read(ref frameBytes);

    /// <summary>Whether the read loop waits for room in the frame budget.</summary>
    public bool IsWaitingForFrameBudget => waitingForBudget;

    /// <summary>
    /// Serves the connection until the client leaves, a fatal protocol error, a timeout, or <see cref="RequestClose"/>.
    /// It does not take the host's stopping token: a server that drains keeps its connections until their requests
    /// have delivered their last frame.
    /// </summary>
    public async Task RunAsync()
    {
        server.Pipeline.ConnectionOpened();
        ServerLog.ConnectionOpened(server.Logger, Id, Remote);
        var pump = PumpOutputAsync(closing.Token);
        var reason = "client closed the connection";
        var graceful = true;
        try
        {
            reason = await ReadLoopAsync(stopReading.Token).ConfigureAwait(false);
            graceful = reason is not ("client closed the connection" or "client closed the connection mid-frame");
        }
        catch (OperationCanceledException)
        {
            reason = Volatile.Read(ref stopReason) ?? "closed";
            graceful = !closing.IsCancellationRequested;
        }
        catch (IOException ex)
        {
            reason = "transport error: " + ex.Message;
            graceful = false;
        }
        finally
        {
            ReleaseFrameReservation();
            await CloseAsync(pump, graceful).ConfigureAwait(false);
            await input.CompleteAsync().ConfigureAwait(false);
            server.Pipeline.ConnectionClosed();
            ServerLog.ConnectionClosed(server.Logger, Id, reason);
        }
    }

    /// <summary>Tells the client the server is draining (go-away, once): requests in flight finish, new ones get 403.</summary>
    public void BeginDrain()
    {
        if (authenticated && Interlocked.Exchange(ref goAwaySent, 1) == 0)
        {
            Send(0, static (writer, _) => FrameWriter.WriteGoAway(writer, "shutting down"));
        }
    }

    /// <summary>
    /// Asks the connection to close gracefully: it stops reading, lets what is in flight deliver its terminal frame,
    /// flushes and closes (each wait bounded by <see cref="ServerContext.CloseGrace"/>). <see cref="RunAsync"/> ends then.
    /// </summary>
    public void RequestClose(string reason)
    {
        Interlocked.CompareExchange(ref stopReason, reason, null);
        try
        {
            stopReading.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already closed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        await closing.CancelAsync().ConfigureAwait(false);
        await stopReading.CancelAsync().ConfigureAwait(false);
        await transport.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Ends the connection's requests and output. Graceful (the server closes): the requests are cancelled and may still
    /// deliver their terminal frames, then the output is flushed to the client. Not graceful (the client is gone):
    /// everything stops at once.
    /// </summary>
    private async Task CloseAsync(Task pump, bool graceful)
    {
        if (!graceful)
        {
            await closing.CancelAsync().ConfigureAwait(false);
        }

        Task ended = Task.CompletedTask;
        lock (writeGate)
        {
            if (graceful && !inFlight.IsEmpty)
            {
                requestsEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                ended = requestsEnded.Task;
            }
        }

        // Everything this client had in flight stops and frees its sequence and slot.
        foreach (var request in inFlight.Values)
        {
            CancelRequest(request);
        }

        if (inFlight.IsEmpty)
        {
            requestsEnded?.TrySetResult();
        }

        await WithinGraceAsync(ended).ConfigureAwait(false);
        lock (writeGate)
        {
            outputClosed = true; // late frames from workers for this connection are dropped from here on
            output.Writer.Complete();
        }

        if (!await WithinGraceAsync(pump).ConfigureAwait(false))
        {
            await closing.CancelAsync().ConfigureAwait(false); // the client does not read: drop what is left
        }

        await pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task<bool> WithinGraceAsync(Task task)
    {
        try
        {
            await task.WaitAsync(server.CloseGrace, server.Time, closing.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<string> ReadLoopAsync(CancellationToken cancellation)
    {
        while (true)
        {
            await WaitForOutputRoomAsync(cancellation).ConfigureAwait(false);
            await ReserveFrameBytesAsync(cancellation).ConfigureAwait(false);
            var result = await input.ReadAsync(cancellation).ConfigureAwait(false);
            var buffer = result.Buffer;
            Volatile.Write(ref lastReceiveTimestamp, server.Time.GetTimestamp());
            var consumed = buffer.Start;
            var examined = buffer.End;
            var framesRead = false;
            try
            {
                var limits = authenticated ? server.Limits : server.Limits.ForHandshake();
                while (true)
                {
                    Frame frame;
                    try
                    {
                        if (!FrameReader.TryReadFrame(ref buffer, limits, out frame))
                        {
                            break;
                        }
                    }
                    catch (ProtocolException ex) when (!ex.IsFatal)
                    {
                        // An undefined frame type: the reader has skipped the frame. After the handshake it is answered
                        // on its own id and the connection stays; before it, only hello is acceptable.
                        consumed = buffer.Start;
                        framesRead = true;
                        if (!authenticated)
                        {
                            WriteError(0, ErrorCode.Unauthenticated, "the first frame must be hello");
                            return "closed: the first frame was not hello";
                        }

                        ServerLog.BadFrame(server.Logger, Id, ex.Message);
                        if (RefuseDuplicateId(ex.RequestId))
                        {
                            return "closed after a fatal protocol error";
                        }

                        WriteError(ex.RequestId, ex.Code, ex.Message);
                        if (ex.RequestId == ProtocolConstants.ConnectionRequestId)
                        {
                            return "closed: an unknown frame type on the connection's id"; // an error on id 0 closes
                        }

                        continue;
                    }

                    consumed = buffer.Start;
                    framesRead = true;
                    if (!Dispatch(frame))
                    {
                        return "closed after a fatal protocol error";
                    }

                    limits = authenticated ? server.Limits : server.Limits.ForHandshake();
                }

                consumed = buffer.Start;
                TrackPartialFrame(buffer, framesRead);
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

    /// <summary>
    /// Notes the frame left partly received after a read (for the frame-rate timeout) and how much of the frame budget
    /// it needs before the next read.
    /// </summary>
    private void TrackPartialFrame(in ReadOnlySequence<byte> rest, bool framesRead)
    {
        if (rest.IsEmpty)
        {
            Interlocked.Exchange(ref frameStartTimestamp, 0);
            Interlocked.Exchange(ref frameBytes, 0);
            partialFrameLength = 0;
            ReleaseFrameReservation();
            return;
        }

        if (framesRead || Interlocked.Read(ref frameStartTimestamp) == 0)
        {
            Interlocked.Exchange(ref frameStartTimestamp, server.Time.GetTimestamp()); // a new frame started
            ReleaseFrameReservation();
        }

        Interlocked.Exchange(ref frameBytes, rest.Length);
        partialFrameLength = 0;
        if (rest.Length >= ProtocolConstants.HeaderSize)
        {
            // The header was validated by the reader (its length is within the limit) before it asked for more.
            Span<byte> field = stackalloc byte[4];
            rest.Slice(ProtocolConstants.PayloadLengthOffset, 4).CopyTo(field);
            partialFrameLength = ProtocolConstants.HeaderSize + (long)BinaryPrimitives.ReadUInt32LittleEndian(field);
        }
    }

    /// <summary>
    /// Before reading on into a large frame, reserves the whole of it in the shared frame budget (waiting, without
    /// reading, while the budget is spent). Frames that fit the read buffer need nothing.
    /// </summary>
    private async ValueTask ReserveFrameBytesAsync(CancellationToken cancellation)
    {
        var needed = partialFrameLength;
        if (needed <= ReadBufferSize || needed <= reservedFrameBytes)
        {
            return;
        }

        needed = Math.Min(needed, server.FrameBudget.Capacity); // a frame larger than the budget must still be readable
        var more = needed - reservedFrameBytes;
        if (!server.FrameBudget.TryReserve(more))
        {
            waitingForBudget = true;
            try
            {
                await server.FrameBudget.ReserveAsync(more, cancellation).ConfigureAwait(false);
            }
            finally
            {
                waitingForBudget = false;
            }

            // The frame-rate clock restarts: the time spent waiting for the budget was not the sender's.
            Interlocked.Exchange(ref frameStartTimestamp, server.Time.GetTimestamp());
        }

        reservedFrameBytes = needed;
    }

    private void ReleaseFrameReservation()
    {
        var reserved = reservedFrameBytes;
        reservedFrameBytes = 0;
        server.FrameBudget.Release(reserved);
    }

    /// <summary>
    /// Called about once a second by the listener: closes a connection that did not say hello in time, sends a frame
    /// slower than the minimum rate, or sits idle too long. The error frame on id 0 says which.
    /// </summary>
    internal void OnHeartbeat(long now)
    {
        if (stopReading.IsCancellationRequested)
        {
            return;
        }

        var limits = server.Options.Limits;
        var time = server.Time;
        if (!authenticated)
        {
            if (limits.HandshakeTimeoutMs > 0 && time.GetElapsedTime(openedTimestamp, now).TotalMilliseconds >= limits.HandshakeTimeoutMs)
            {
                TimeOut($"no hello within {limits.HandshakeTimeoutMs} ms of connecting");
            }

            return;
        }

        var frameStart = Interlocked.Read(ref frameStartTimestamp);
        if (frameStart != 0)
        {
            if (waitingForBudget || limits.MinFrameBytesPerSecond <= 0)
            {
                return;
            }

            var elapsed = time.GetElapsedTime(frameStart, now);
            if (elapsed.TotalMilliseconds > limits.FrameGracePeriodMs)
            {
                var rate = Interlocked.Read(ref frameBytes) / elapsed.TotalSeconds;
                if (rate < limits.MinFrameBytesPerSecond)
                {
                    TimeOut($"a frame arrived at {rate:F0} bytes/s, below the minimum of {limits.MinFrameBytesPerSecond} bytes/s");
                }
            }

            return;
        }

        if (limits.IdleTimeoutSeconds > 0 && inFlight.IsEmpty &&
            time.GetElapsedTime(Volatile.Read(ref lastReceiveTimestamp), now).TotalSeconds >= limits.IdleTimeoutSeconds)
        {
            TimeOut($"idle for {limits.IdleTimeoutSeconds} s");
        }
    }

    private void TimeOut(string reason)
    {
        SocketLog.TimedOut(server.Logger, Id, reason);
        WriteError(0, ErrorCode.Timeout, reason);
        RequestClose("timed out: " + reason);
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
        this.caller = caller ?? default;
        if (caller is null)
        {
            WriteError(0, ErrorCode.AuthenticationFailed, "wrong token");
            return false;
        }

        sessionVersion = Math.Min(hello.MaxVersion, ProtocolConstants.HighestVersion);
        authenticated = true;
        Send(0, (writer, _) => FrameWriter.WriteHelloOk(writer, ServerHello.FromLimits(server.Limits, this.caller.IsAdmin, (ulong)Id, "modelrouter", sessionVersion)));
        if (server.Pipeline.IsDraining)
        {
            BeginDrain(); // accepted just before the listener closed: it learns at once that requests will be refused
        }

        return true;
    }
}
