using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Protocol;
using ModelRouter.Server.Doors.Socket;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Hosting;

/// <summary>
/// Accepts TCP and Unix-domain-socket connections (the socket file owner-only) and runs each on its own loop, within
/// the connection limits (total and per address), with a heartbeat that enforces the handshake, idle and frame-rate
/// timeouts. On stop: it stops accepting at once, tells every connection to go away, lets every accepted request
/// deliver its terminal frame (the pipeline's drain, bounded by the host's shutdown token), flushes what the
/// connections still have to send, and only then closes them.
/// </summary>
public sealed class ListenerService : BackgroundService
{
    /// <summary>How often the timeouts are checked (their resolution), as Kestrel's heartbeat.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(1);

    /// <summary>Key of the one "address" every Unix-socket client shares for the per-address limit.</summary>
    private static readonly IPAddress UnixClients = IPAddress.IPv6None;

    private readonly ServerOptions options;
    private readonly ServerContext context;
    private readonly ILogger logger;
    private readonly ConcurrentDictionary<ClientConnection, Task> connections = new();
    private readonly ConcurrentDictionary<IPAddress, int> perAddress = new();
    private readonly List<Socket> listeners = [];
    private readonly byte[] tooManyConnections;
    private readonly byte[] tooManyFromAddress;
    private ITimer? heartbeat;
    private string? boundUnixPath;
    private int refusing;

    public ListenerService(IOptions<ServerOptions> options, RequestPipeline pipeline, ILogger<ListenerService> logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Value;
        this.logger = logger;
        context = new ServerContext(pipeline, time);
        tooManyConnections = ErrorFrame(ErrorCode.Overloaded, $"the server has {this.options.Limits.MaxConnections} connections open; try again later");
        tooManyFromAddress = ErrorFrame(ErrorCode.Overloaded, $"this address has {this.options.Limits.MaxConnectionsPerAddress} connections open; try again later");
    }

    /// <summary>The bound TCP endpoint (port 0 in the options picks a free one).</summary>
    public IPEndPoint? TcpEndpoint { get; private set; }

    /// <summary>What the connections share (the frame budget, the clock): for tests and stats.</summary>
    public ServerContext Context => context;

    /// <summary>The connections open now.</summary>
    public ICollection<ClientConnection> Connections => connections.Keys;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(options.Tcp))
        {
            var endpoint = IPEndPoint.Parse(options.Tcp);
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Bind(endpoint);
            socket.Listen(512);
            TcpEndpoint = (IPEndPoint)socket.LocalEndPoint!;
            listeners.Add(socket);
            ServerLog.Listening(logger, "tcp://" + TcpEndpoint);
        }

        if (!string.IsNullOrWhiteSpace(options.UnixSocket))
        {
            var path = Path.GetFullPath(options.UnixSocket);
            if (UnixSocketPath.Prepare(path))
            {
                SocketLog.StaleSocketRemoved(logger, path);
            }

            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Bind(new UnixDomainSocketEndPoint(path));
            }
            catch (SocketException ex)
            {
                // Lost a race with another server binding the same path between the check and the bind.
                socket.Dispose();
                throw new IOException($"Unix socket path '{path}' could not be bound: {ex.Message}", ex);
            }

            boundUnixPath = path; // ours from here on: removed at stop
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // owner only
            }

            socket.Listen(512);
            listeners.Add(socket);
            ServerLog.Listening(logger, "unix://" + path);
        }

        heartbeat = context.Time.CreateTimer(static state => ((ListenerService)state!).Heartbeat(), this, HeartbeatInterval, HeartbeatInterval);
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // 1. Stop accepting at once; the accept loops end (connections do not run on their token).
        foreach (var listener in listeners)
        {
            listener.Dispose();
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);

        // 2. Tell every connection: requests in flight finish, new ones are refused (the pipeline answers 403).
        var open = connections.Keys.ToList();
        foreach (var connection in open)
        {
            connection.BeginDrain();
        }

        SocketLog.Draining(logger, open.Count);

        // 3. Every accepted request delivers its terminal frame; at the deadline what is left gets shutting-down.
        try
        {
            await DrainRequestsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time: what was cut off got its terminal error from the drain.
        }

        // 4. Flush what each connection still has to send (error and done frames must reach the client), then close.
        foreach (var connection in connections.Keys)
        {
            connection.RequestClose("server stopping");
        }

        await Task.WhenAll(connections.Values).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (heartbeat is not null)
        {
            await heartbeat.DisposeAsync().ConfigureAwait(false);
        }

        if (boundUnixPath is not null && File.Exists(boundUnixPath))
        {
            File.Delete(boundUnixPath);
        }
    }

    /// <summary>Lets every request accepted by either door finish (or fail with shutting-down at the deadline).</summary>
    private Task DrainRequestsAsync(CancellationToken deadline) => context.Pipeline.DrainAsync(deadline);

    public override void Dispose()
    {
        heartbeat?.Dispose();
        base.Dispose();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        return Task.WhenAll(listeners.Select(l => AcceptLoopAsync(l, stoppingToken)));
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var address = socket.RemoteEndPoint is IPEndPoint ip ? Normalize(ip.Address) : UnixClients;
            if (!TryAdmit(address, out var refusal))
            {
                Refuse(socket, refusal);
                continue;
            }

            var connection = new ClientConnection(new NetworkStream(socket, ownsSocket: true), socket.RemoteEndPoint?.ToString() ?? "unix", context);
            connections[connection] = RunAsync(connection, address);
        }
    }

    /// <summary>Counts the connection against the limits; false (with the frame to send) when it is one too many.</summary>
    private bool TryAdmit(IPAddress address, out byte[] refusal)
    {
        refusal = tooManyConnections;
        var limits = options.Limits;
        if (limits.MaxConnections > 0 && connections.Count >= limits.MaxConnections)
        {
            LogRefusingOnce($"{limits.MaxConnections} connections open (Limits:MaxConnections)");
            return false;
        }

        var count = perAddress.AddOrUpdate(address, 1, static (_, n) => n + 1);
        if (limits.MaxConnectionsPerAddress > 0 && count > limits.MaxConnectionsPerAddress)
        {
            Release(address);
            refusal = tooManyFromAddress;
            LogRefusingOnce($"{limits.MaxConnectionsPerAddress} connections open from {(address.Equals(UnixClients) ? "Unix-socket clients" : address)} (Limits:MaxConnectionsPerAddress)");
            return false;
        }

        return true;
    }

    private void Release(IPAddress address)
    {
        if (perAddress.AddOrUpdate(address, 0, static (_, n) => n - 1) <= 0)
        {
            perAddress.TryRemove(new KeyValuePair<IPAddress, int>(address, 0));
        }
    }

    private void LogRefusingOnce(string reason)
    {
        if (Interlocked.Exchange(ref refusing, 1) == 0)
        {
            SocketLog.RefusingConnections(logger, reason);
        }
    }

    /// <summary>
    /// Sends the prepared error frame without waiting (a fresh socket's send buffer takes it) and closes. What the
    /// client already sent is read away first, so that the close is a FIN after the frame, not a reset that could
    /// discard it.
    /// </summary>
    private static void Refuse(Socket socket, byte[] frame)
    {
        try
        {
            socket.Blocking = false;
            socket.Send(frame);
            socket.Shutdown(SocketShutdown.Send);
            Span<byte> scratch = stackalloc byte[512];
            while (socket.Available > 0 && socket.Receive(scratch) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Best effort: the client is refused either way.
        }
        finally
        {
            socket.Dispose();
        }
    }

    private async Task RunAsync(ClientConnection connection, IPAddress address)
    {
        try
        {
            await Task.Yield();
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            connections.TryRemove(connection, out _);
            Release(address);
            Volatile.Write(ref refusing, 0); // a later refusal is news again
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Heartbeat()
    {
        var now = context.Time.GetTimestamp();
        foreach (var (connection, _) in connections) // the dictionary itself: Keys would copy them into a new list each tick
        {
            connection.OnHeartbeat(now);
        }
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static byte[] ErrorFrame(ErrorCode code, string message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        FrameWriter.WriteError(buffer, ProtocolConstants.ConnectionRequestId, code, message);
        return buffer.WrittenSpan.ToArray();
    }
}
