using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using ModelRouter.Protocol;

namespace ModelRouter.Client;

/// <summary>
/// A connection to a ModelRouter server: one socket, many concurrent requests multiplexed by request id. Thread-safe:
/// share one instance across the callers of a process. Requests beyond the server's in-flight limit wait for a slot
/// locally instead of being refused by the server.
/// </summary>
public sealed partial class ModelRouterClient : IAsyncDisposable
{
    private readonly PipeReader reader;
    private readonly PipeWriter writer;
    private readonly IDisposable? transport;
    private readonly ModelRouterClientOptions options;
    private readonly ConcurrentDictionary<uint, PendingRequest> pending = new();
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private readonly CancellationTokenSource closing = new();
    private SemaphoreSlim slots = new(1, 1);
    private ProtocolLimits sendLimits;
    private Task readLoop = Task.CompletedTask;
    private Exception? closeReason;
    private int closed;
    private int draining;
    private uint nextId;

    private ModelRouterClient(PipeReader reader, PipeWriter writer, IDisposable? transport, ModelRouterClientOptions options, EndPoint? remoteEndPoint)
    {
        this.reader = reader;
        this.writer = writer;
        this.transport = transport;
        this.options = options;
        RemoteEndPoint = remoteEndPoint;
        Server = new ServerHello();
    }

    /// <summary>The endpoint this client connected to; null over a pipe given to <see cref="ConnectAsync(IDuplexPipe, string, ModelRouterClientOptions?, CancellationToken)"/>.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>What the server announced in hello-ok: version, limits, admin, connection id.</summary>
    public ServerHello Server { get; private set; }

    /// <summary>False once the connection closed or failed; every later call throws <see cref="ModelRouterConnectionException"/>.</summary>
    public bool IsConnected => Volatile.Read(ref closed) == 0;

    /// <summary>True after the server sent go-away: in-flight requests finish, new ones are refused locally.</summary>
    public bool IsDraining => Volatile.Read(ref draining) != 0;

    /// <summary>Requests sent and not yet answered (cancelled ones count until the server confirms).</summary>
    public int InFlight => pending.Count;

    /// <summary>Completes when the connection ends (never faults).</summary>
    public Task Completion => readLoop;

    /// <summary>
    /// Connects over TCP (<see cref="IPEndPoint"/>, <see cref="DnsEndPoint"/>) or a Unix domain socket
    /// (<see cref="UnixDomainSocketEndPoint"/>) and authenticates with <paramref name="token"/>.
    /// </summary>
    /// <exception cref="ModelRouterConnectionException">The server refused the token or the version, or closed.</exception>
    /// <exception cref="SocketException">Nothing listens there.</exception>
    public static async Task<ModelRouterClient> ConnectAsync(
        EndPoint endpoint, string token, ModelRouterClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(token);
        options ??= new ModelRouterClientOptions();
        var socket = endpoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException($"connecting to {endpoint} took longer than {options.ConnectTimeout}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var stream = new NetworkStream(socket, ownsSocket: true);
        var pipeReader = PipeReader.Create(stream, new StreamPipeReaderOptions(
            bufferSize: options.ReadBufferSize, minimumReadSize: Math.Min(1024, options.ReadBufferSize), leaveOpen: true));
        var pipeWriter = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: options.WriteBufferSize, leaveOpen: true));
        return await StartAsync(new ModelRouterClient(pipeReader, pipeWriter, stream, options, endpoint), token, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Connects over an existing duplex pipe (in-process transports, tests, benchmarks of the protocol alone).</summary>
    public static async Task<ModelRouterClient> ConnectAsync(
        IDuplexPipe transport, string token, ModelRouterClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(token);
        options ??= new ModelRouterClientOptions();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        return await StartAsync(new ModelRouterClient(transport.Input, transport.Output, null, options, null), token, timeout, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<ModelRouterClient> StartAsync(
        ModelRouterClient client, string token, CancellationTokenSource timeout, CancellationToken cancellationToken)
    {
        try
        {
            await client.HandshakeAsync(token, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"the handshake took longer than {client.options.ConnectTimeout}");
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        client.readLoop = Task.Run(client.ReadLoopAsync, CancellationToken.None);
        return client;
    }

    private async Task HandshakeAsync(string token, CancellationToken cancellationToken)
    {
        FrameWriter.WriteHello(writer, new HelloMessage { MaxVersion = ProtocolConstants.HighestVersion, ClientName = options.ClientName, Token = token });
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        var limits = options.ReceiveLimits;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            try
            {
                if (FrameReader.TryReadFrame(ref buffer, limits, out var frame))
                {
                    using var payload = frame.LeasePayload();
                    switch (frame.Type)
                    {
                        case FrameType.HelloOk:
                            Server = MessageReader.ReadHelloOk(payload.Span, limits);
                            sendLimits = Server.ToLimits(ProtocolLimits.Default);
                            slots = new SemaphoreSlim(Server.MaxRequestsInFlight, Server.MaxRequestsInFlight);
                            return;
                        case FrameType.Error:
                            var error = MessageReader.ReadError(payload.Span);
                            throw new ModelRouterConnectionException(error.Code, $"the server refused the connection: {error.GetMessage()}");
                        default:
                            throw new ModelRouterConnectionException(ErrorCode.UnexpectedFrame, $"expected hello-ok, got {frame.Type}");
                    }
                }

                if (result.IsCompleted)
                {
                    throw new ModelRouterConnectionException("the server closed the connection during the handshake");
                }
            }
            catch (ProtocolException ex)
            {
                throw new ModelRouterConnectionException(ex.Code, $"the server's handshake is malformed: {ex.Message}", ex);
            }
            finally
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    /// <summary>Closes the connection; pending requests fail with <see cref="ModelRouterConnectionException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (readLoop.IsCompleted)
        {
            await CloseAsync(new ModelRouterConnectionException("the client was disposed")).ConfigureAwait(false);
        }
        else
        {
            closeReason ??= new ModelRouterConnectionException("the client was disposed");
            await closing.CancelAsync().ConfigureAwait(false);
            // Failing the requests first releases a read loop waiting for a stalled consumer's channel.
            FailPending(closeReason);
            reader.CancelPendingRead();
            await readLoop.ConfigureAwait(false);
        }

        closing.Dispose();
    }

    private async Task CloseAsync(Exception reason)
    {
        if (Interlocked.Exchange(ref closed, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref closeReason, closeReason ?? reason);
        reason = closeReason!;
        try
        {
            await closing.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
        }

        // Disposing the socket first unblocks a sender stuck in a flush, so the write lock below is released.
        transport?.Dispose();
        FailPending(reason);

        await reader.CompleteAsync().ConfigureAwait(false);
        await writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            writeLock.Release();
        }
    }

    private void FailPending(Exception reason)
    {
        foreach (var id in pending.Keys)
        {
            if (pending.TryRemove(id, out var request))
            {
                request.Fail(reason);
            }
        }
    }

    private ModelRouterConnectionException ConnectionClosed() =>
        closeReason as ModelRouterConnectionException ?? new ModelRouterConnectionException("the connection is closed");
}
