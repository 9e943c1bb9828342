using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Server.Doors.Socket;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Hosting;

/// <summary>
/// Accepts TCP and Unix-domain-socket connections (the socket file owner-only) and runs each on its own loop. On
/// stop it stops accepting, lets the scheduler drain, then closes the connections.
/// </summary>
public sealed class ListenerService : BackgroundService
{
    private readonly ServerOptions options;
    private readonly ServerContext context;
    private readonly ILogger logger;
    private readonly ConcurrentDictionary<ClientConnection, Task> connections = new();
    private readonly List<Socket> listeners = [];

    private readonly ModelRouterService service;

    public ListenerService(IOptions<ServerOptions> options, ModelRouterService service, RequestPipeline pipeline, ILogger<ListenerService> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Value;
        this.logger = logger;
        this.service = service;
        context = new ServerContext(pipeline);
    }

    /// <summary>The bound TCP endpoint (port 0 in the options picks a free one).</summary>
    public IPEndPoint? TcpEndpoint { get; private set; }

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
            if (File.Exists(path))
            {
                File.Delete(path); // a stale socket file from a previous run
            }

            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // owner only
            }

            socket.Listen(512);
            listeners.Add(socket);
            ServerLog.Listening(logger, "unix://" + path);
        }

        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var listener in listeners)
        {
            listener.Dispose(); // stop accepting; the accept loops end
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await service.Scheduler.DrainAsync(cancellationToken).ConfigureAwait(false);
        foreach (var connection in connections.Keys)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(connections.Values).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!string.IsNullOrWhiteSpace(options.UnixSocket) && File.Exists(options.UnixSocket))
        {
            File.Delete(options.UnixSocket);
        }
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

            var connection = new ClientConnection(new NetworkStream(socket, ownsSocket: true), socket.RemoteEndPoint?.ToString() ?? "unix", context);
            connections[connection] = RunAsync(connection, stopping);
        }
    }

    private async Task RunAsync(ClientConnection connection, CancellationToken stopping)
    {
        try
        {
            await Task.Yield();
            await connection.RunAsync(stopping).ConfigureAwait(false);
        }
        finally
        {
            connections.TryRemove(connection, out _);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
