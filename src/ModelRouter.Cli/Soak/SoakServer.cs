using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using ModelRouter.Cli.Demo;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Training;
using ModelRouter.Server.Options;

namespace ModelRouter.Cli.Soak;

/// <summary>
/// The server under soak: the demo's forged catalog (four models, a device budget that holds about two, so requests
/// force swaps), both doors on loopback plus a Unix socket, run as a separate `modelrouter serve` process so that its
/// RSS, threads and handles are its own and a crash shows as an exit code.
/// </summary>
internal sealed partial class SoakServer : IAsyncDisposable
{
    public const string Token = "soak";
    public const string AdminToken = "soak-admin";
    private const int SigTerm = 15;

    private readonly Process process;
    private readonly StreamWriter log;
    private readonly Lock logLock = new();

    private SoakServer(Process process, StreamWriter log, IPEndPoint tcp, UnixDomainSocketEndPoint? unix, Uri http, string[] models)
    {
        this.process = process;
        this.log = log;
        Tcp = tcp;
        Unix = unix;
        Http = http;
        Models = models;
    }

    public IPEndPoint Tcp { get; }

    public UnixDomainSocketEndPoint? Unix { get; }

    public Uri Http { get; }

    /// <summary>The catalog's model names.</summary>
    public string[] Models { get; }

    public int ProcessId => process.Id;

    public bool HasExited => process.HasExited;

    /// <summary>
    /// Forges the catalog, writes the config (the demo's, whose device budget holds the two largest models as the pool
    /// counts them once loaded, so about two are resident at a time and requests force swaps), starts `modelrouter serve`
    /// and waits until /ready answers 200.
    /// </summary>
    public static async Task<SoakServer> StartAsync(SoakSettings settings, TextWriter progress, CancellationToken cancellation)
    {
        var directory = Path.GetFullPath(settings.WorkDirectory);
        Directory.CreateDirectory(directory);
        var paths = DemoCatalog.Forge(Path.Combine(directory, "models"), progress, cancellation);
        File.Delete(Path.Combine(directory, "server.log"));
        var footprints = await DemoFootprints.MeasureAsync(paths, DemoCatalog.Scheduler(), cancellation).ConfigureAwait(false);
        var demoConfig = DemoCatalog.WriteConfig(directory, paths, footprints);
        progress.WriteLine($"[soak] device budget {DemoCatalog.Budget(footprints):N0} bytes (the two largest models' weights as loaded)");
        var tcp = new IPEndPoint(IPAddress.Loopback, FreePort());
        var http = new Uri($"http://127.0.0.1:{FreePort()}/");
        // A Unix socket path is limited to ~107 bytes: keep it short and out of deep work directories.
        var unixPath = OperatingSystem.IsWindows() ? null : Path.Combine(Path.GetTempPath(), $"mr-soak-{Environment.ProcessId}.sock");
        var root = Config(demoConfig, tcp, http, unixPath, settings.Threads);
        File.Delete(demoConfig);
        var config = Path.Combine(directory, "modelrouter.soak.json");

        var arguments = new List<string> { "serve", "--config", config };
        if (settings.RoutesFile is { } routes && File.Exists(routes))
        {
            progress.WriteLine($"[soak] training the router from {routes}");
            var training = RouterTrainer.Train(TrainingSet.Load(routes), new TrainerOptions { Seed = 1 });
            var classifier = Path.Combine(directory, "router.mrc");
            ClassifierFileWriter.Write(training.Model, classifier);
            arguments.AddRange(["--router", classifier]);
        }

        WriteConfig(root, config);
        return await LaunchAsync(settings, directory, arguments, tcp, unixPath, http, [.. paths.Keys], progress, cancellation).ConfigureAwait(false);
    }

    private static async Task<SoakServer> LaunchAsync(
        SoakSettings settings, string directory, List<string> arguments, IPEndPoint tcp, string? unixPath, Uri http, string[] models,
        TextWriter progress, CancellationToken cancellation)
    {
        var start = ServerCommand(settings.ServerExecutable);
        var info = new ProcessStartInfo(start.FileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in start.Prefix.Concat(arguments))
        {
            info.ArgumentList.Add(a);
        }

        var log = new StreamWriter(Path.Combine(directory, "server.log"), append: true) { AutoFlush = true };
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var server = new SoakServer(process, log, tcp, unixPath is null ? null : new UnixDomainSocketEndPoint(unixPath), http, models);
        process.OutputDataReceived += (_, e) => server.Log(e.Data);
        process.ErrorDataReceived += (_, e) => server.Log(e.Data);
        progress.WriteLine($"[soak] starting {info.FileName} {string.Join(' ', info.ArgumentList)}");
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {info.FileName}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitReadyAsync(TimeSpan.FromMinutes(2), cancellation).ConfigureAwait(false);
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return server;
    }

    /// <summary>SIGTERM (a graceful drain, as an operator stops it), then the exit code; killed if it outlives the deadline.</summary>
    public async Task<int?> StopAsync(TimeSpan deadline)
    {
        if (process.HasExited)
        {
            return process.ExitCode;
        }

        if (OperatingSystem.IsWindows() || Kill(process.Id, SigTerm) != 0)
        {
            process.Kill(entireProcessTree: true);
        }

        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            return process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        process.Dispose();
        lock (logLock)
        {
            log.Dispose();
        }
    }

    /// <summary>The last lines the server wrote (for an error message when it dies).</summary>
    public string LogPath => ((FileStream)log.BaseStream).Name;

    private void Log(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (logLock)
        {
            if (log.BaseStream.CanWrite)
            {
                log.WriteLine(line);
            }
        }
    }

    private async Task WaitReadyAsync(TimeSpan limit, CancellationToken cancellation)
    {
        using var http = new HttpClient { BaseAddress = Http, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the server exited with code {process.ExitCode} before it was ready (see {LogPath})");
            }

            try
            {
                using var response = await http.GetAsync(new Uri("ready", UriKind.Relative), cancellation).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"the server was not ready after {limit.TotalSeconds} s (see {LogPath})");
            }

            // Polling a process we do not control: there is no signal to wait on but its /ready.
            await Task.Delay(200, cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>The demo's config with the soak's listeners, tokens, threads and a quiet log.</summary>
    private static JsonObject Config(string demoConfig, IPEndPoint tcp, Uri http, string? unix, int threads)
    {
        var root = JsonNode.Parse(File.ReadAllText(demoConfig))!.AsObject();
        var section = root[ServerOptions.SectionName]!.AsObject();
        section[nameof(ServerOptions.Tcp)] = tcp.ToString();
        section[nameof(ServerOptions.Http)] = http.ToString().TrimEnd('/');
        section[nameof(ServerOptions.UnixSocket)] = unix;
        section[nameof(ServerOptions.AuthToken)] = Token;
        section[nameof(ServerOptions.AdminToken)] = AdminToken;
        section[nameof(ServerOptions.Scheduler)]!.AsObject()[nameof(SchedulerSettings.Threads)] = threads;
        root["Logging"] = new JsonObject { ["LogLevel"] = new JsonObject { ["Default"] = "Warning", ["llama.cpp"] = "Error" } };
        return root;
    }

    private static void WriteConfig(JsonObject root, string path) =>
        File.WriteAllText(path, root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

    /// <summary>
    /// How to start `modelrouter`: the given executable; else this process when it is the modelrouter apphost; else the
    /// apphost next to this assembly; else `dotnet modelrouter.dll` (as under a test host).
    /// </summary>
    private static (string FileName, string[] Prefix) ServerCommand(string? executable)
    {
        if (executable is not null)
        {
            return executable.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? (DotnetHost(), [executable]) : (executable, []);
        }

        var assembly = typeof(SoakServer).Assembly.Location;
        var apphost = Path.Combine(Path.GetDirectoryName(assembly)!, OperatingSystem.IsWindows() ? "modelrouter.exe" : "modelrouter");
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "modelrouter")
        {
            return (self, []);
        }

        return File.Exists(apphost) ? (apphost, []) : (DotnetHost(), [assembly]);
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"pid {ProcessId}, tcp {Tcp}, http {Http}, unix {Unix?.ToString() ?? "-"}");
}
