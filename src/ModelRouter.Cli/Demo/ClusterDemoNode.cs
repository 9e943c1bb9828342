using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ModelRouter.Client;

namespace ModelRouter.Cli.Demo;

/// <summary>
/// One node of the cluster demo: `modelrouter serve` in its own process (so that killing it is a machine dying, with no
/// goodbye), its output in a log file, and a probe connection for its stats.
/// </summary>
internal sealed class ClusterDemoNode : IAsyncDisposable
{
    private readonly Process process;
    private readonly StreamWriter log;
    private readonly Lock logGate = new();
    private ModelRouterClient? probe;

    private readonly string configPath;
    private readonly string logPath;

    private ClusterDemoNode(string name, Process process, StreamWriter log, IPEndPoint endpoint, string configPath, string logPath)
    {
        Name = name;
        this.process = process;
        this.log = log;
        Endpoint = endpoint;
        this.configPath = configPath;
        this.logPath = logPath;
    }

    /// <summary>Swaps an earlier process of this node did before it died (a restarted node counts from 0 again).</summary>
    public long CarriedSwaps { get; private set; }

    /// <summary>The same node started again (same config, ports and name) after it died; its log goes to a second file.</summary>
    public ClusterDemoNode Restart(long carriedSwaps)
    {
        var restarted = Start(Name, configPath, Endpoint.Port, Path.ChangeExtension(logPath, ".restarted.log"));
        restarted.CarriedSwaps = carriedSwaps;
        return restarted;
    }

    public string Name { get; }

    public IPEndPoint Endpoint { get; }

    public bool HasExited => process.HasExited;

    /// <summary>Starts this executable's `serve` with <paramref name="configPath"/>; stdout and stderr go to <paramref name="logPath"/>.</summary>
    public static ClusterDemoNode Start(string name, string configPath, int tcpPort, string logPath)
    {
        // The modelrouter executable itself, or (run as `dotnet modelrouter.dll`, or from a test host) the .NET host with this assembly.
        var self = Environment.ProcessPath ?? "dotnet";
        var direct = string.Equals(Path.GetFileNameWithoutExtension(self), "modelrouter", StringComparison.Ordinal);
        var host = direct ? self
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } dotnetHost ? dotnetHost
            : string.Equals(Path.GetFileNameWithoutExtension(self), "dotnet", StringComparison.Ordinal) ? self : "dotnet";
        var start = new ProcessStartInfo(host) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (!direct)
        {
            start.ArgumentList.Add(typeof(ClusterDemoNode).Assembly.Location);
        }

        start.ArgumentList.Add("serve");
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(configPath);
        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"node {name} did not start");
        var node = new ClusterDemoNode(name, process, log, new IPEndPoint(IPAddress.Loopback, tcpPort), configPath, logPath);
        process.OutputDataReceived += (_, e) => node.Log(e.Data);
        process.ErrorDataReceived += (_, e) => node.Log(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    private void Log(string? line)
    {
        if (line is not null)
        {
            lock (logGate)
            {
                log.WriteLine(line);
            }
        }
    }

    /// <summary>Waits (60 s at most) until the node answers on its socket door and sees <paramref name="nodes"/> nodes in its cluster.</summary>
    /// <exception cref="InvalidOperationException">The node exited or did not get there in time.</exception>
    public async Task WaitReadyAsync(string token, int nodes, CancellationToken cancellation)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"node {Name} exited with code {process.ExitCode}; see its log");
            }

            if (await ClusterNodesAsync(token, cancellation).ConfigureAwait(false) >= nodes)
            {
                return;
            }

            await Task.Delay(100, cancellation).ConfigureAwait(false);
        }

        throw new InvalidOperationException($"node {Name} did not see {nodes} nodes within 60 s; see its log");
    }

    /// <summary>Nodes in this node's view (its stats' cluster_nodes), or null when it cannot be asked.</summary>
    public async Task<int?> ClusterNodesAsync(string token, CancellationToken cancellation) =>
        await StatsAsync(token, cancellation).ConfigureAwait(false) is { } stats
            ? (int)stats.Extra.FirstOrDefault(e => e.Key == "cluster_nodes").Value
            : null;

    /// <summary>Swaps this node has done, or null when it cannot be asked.</summary>
    public async Task<long?> SwapsAsync(string token, CancellationToken cancellation) =>
        (await StatsAsync(token, cancellation).ConfigureAwait(false))?.SwapsTotal;

    /// <summary>The models this node holds in host RAM or on its device (marked *), by name, or null when it cannot be asked.</summary>
    public Task<IReadOnlyList<string>?> HeldModelsAsync(string token, CancellationToken cancellation) =>
        AskAsync(token, async client => (IReadOnlyList<string>)[.. (await client.ListModelsAsync(cancellation).ConfigureAwait(false))
            .Where(m => m.Tier is Protocol.ModelTier.Gpu or Protocol.ModelTier.Host).OrderBy(m => m.Name, StringComparer.Ordinal)
            .Select(m => m.Tier == Protocol.ModelTier.Gpu ? m.Name + "*" : m.Name)], cancellation);

    private Task<Protocol.ServerStats?> StatsAsync(string token, CancellationToken cancellation) =>
        AskAsync(token, client => client.GetStatsAsync(cancellation), cancellation);

    /// <summary>One question on the probe connection (opened again when it broke), within 2 s; null when the node does not answer.</summary>
    private async Task<T?> AskAsync<T>(string token, Func<ModelRouterClient, Task<T>> ask, CancellationToken cancellation)
        where T : class
    {
        try
        {
            if (probe is not { IsConnected: true })
            {
                if (probe is not null)
                {
                    await probe.DisposeAsync().ConfigureAwait(false);
                }

                probe = null;
                probe = await ModelRouterClient.ConnectAsync(Endpoint, token,
                    new ModelRouterClientOptions { ClientName = "cluster-demo-probe", ConnectTimeout = TimeSpan.FromSeconds(2) }, cancellation).ConfigureAwait(false);
            }

            return await ask(probe).WaitAsync(TimeSpan.FromSeconds(2), cancellation).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException or TimeoutException or ModelRouterException)
        {
            return null;
        }
    }

    /// <summary>SIGSTOP: the node hangs, its sockets open (SIGKILL at dispose still ends it).</summary>
    public void Stop()
    {
        if (!process.HasExited)
        {
            using var stop = Process.Start(new ProcessStartInfo("kill", ["-STOP", process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false });
            stop?.WaitForExit();
            Stopped = true;
        }
    }

    /// <summary>Stopped with <see cref="Stop"/>: alive to the OS, dead to everyone else.</summary>
    public bool Stopped { get; private set; }

    public Task WaitForExitAsync(CancellationToken cancellation) => process.WaitForExitAsync(cancellation);

    /// <summary>SIGKILL: the node dies without closing anything itself.</summary>
    public void Kill()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (probe is not null)
        {
            await probe.DisposeAsync().ConfigureAwait(false);
        }

        Kill();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        process.Dispose();
        lock (logGate)
        {
            log.Dispose();
        }
    }
}

/// <summary>
/// A user of the demo: one connection to the node a load balancer gave it; when that node dies, the user's next request
/// goes to the next live node (the balancer noticed), and the requests that died with it count as lost.
/// </summary>
internal sealed class ClusterDemoUser(string name, int entry) : IAsyncDisposable
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private ModelRouterClient? client;

    public string Name { get; } = name;

    public int Entry { get; private set; } = entry;

    public async Task<ModelRouterClient> ClientAsync(IReadOnlyList<ClusterDemoNode> nodes, string token, CancellationToken cancellation)
    {
        await gate.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                if (client is { IsConnected: true })
                {
                    return client;
                }

                if (client is not null)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                    client = null;
                }

                Entry %= nodes.Count;
                var node = nodes[Entry];
                if (!node.HasExited && !node.Stopped)
                {
                    try
                    {
                        client = await ModelRouterClient.ConnectAsync(node.Endpoint, token,
                            new ModelRouterClientOptions { ClientName = "cluster-demo-" + Name }, cancellation).ConfigureAwait(false);
                        continue;
                    }
                    catch (Exception ex) when (ex is SocketException or IOException or TimeoutException or ModelRouterException && attempt < nodes.Count)
                    {
                        // Not answering: the balancer sends this user to the next node.
                    }
                }

                Entry = (Entry + 1) % nodes.Count;
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Its node did not answer in time: drop the connection and move to the next node.</summary>
    public async Task AbandonAsync()
    {
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (client is not null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
                client = null;
            }

            Entry++;
        }
        finally
        {
            gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (client is not null)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        gate.Dispose();
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name} → node #{Entry}");
}
