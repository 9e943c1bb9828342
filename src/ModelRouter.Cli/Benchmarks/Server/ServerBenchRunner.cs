using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Cli.Reporting;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Benchmarks.Server;

/// <summary>
/// The server's own numbers, over one connection to a real server with a real model: frames/s, the latency the
/// protocol adds over the same call made in-process (route-only, and a one-token generation through the scheduler),
/// and streamed tokens/s against the same generation in-process. Loopback TCP, and a Unix domain socket where there is one.
/// </summary>
internal sealed class ServerBenchRunner(ServerBenchSettings settings, TextWriter progress)
{
    private const string Token = "bench";
    private const string ModelName = "bench";
    private const string TaskType = "chat";
    private const string Prompt = "Once upon a time, there was a little girl who liked to read books about the sea.";

    private readonly TextTable table = new("measurement", "path", "p50 µs", "p99 µs", "added p50 µs", "added p99 µs", "throughput");
    private ulong nextId = 1UL << 60; // far from any client's ids (they never meet: the in-process path has no connection)

    public async Task<TextTable> RunAsync(CancellationToken cancellation)
    {
        var socketPath = settings.UnixSocket ? Path.Combine(Path.GetTempPath(), $"modelrouter-bench-{Environment.ProcessId}.sock") : null;
        string[] args =
        [
            "--ModelRouter:Tcp=127.0.0.1:0",
            "--ModelRouter:AuthToken=" + Token,
            "--ModelRouter:DeviceBudgetBytes=" + (new FileInfo(settings.ModelPath).Length * 4).ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:DefaultModel=" + ModelName,
            "--ModelRouter:Models:0:Name=" + ModelName,
            "--ModelRouter:Models:0:Path=" + Path.GetFullPath(settings.ModelPath),
            "--ModelRouter:Models:0:Capabilities:0=" + TaskType,
            // A second, dearer entry over the same file: every routed decision weighs two candidates.
            "--ModelRouter:Models:1:Name=" + ModelName + "-dear",
            "--ModelRouter:Models:1:Path=" + Path.GetFullPath(settings.ModelPath),
            "--ModelRouter:Models:1:Capabilities:0=" + TaskType,
            "--ModelRouter:Models:1:CostPer1kTokens=1",
            "--ModelRouter:Scheduler:Threads=" + settings.Threads.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Limits:MaxRequestsInFlightPerConnection=" + Math.Max(64, settings.Pipeline).ToString(CultureInfo.InvariantCulture),
            .. socketPath is null ? Array.Empty<string>() : ["--ModelRouter:UnixSocket=" + socketPath],
        ];
        var builder = ModelRouterHost.CreateBuilder(args, configFile: null, new FixedTaskClassifier(TaskType));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("llama.cpp", LogLevel.Error);
        using var host = builder.Build();
        await host.StartAsync(cancellation).ConfigureAwait(false);
        try
        {
            var tcp = host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
            var router = host.Services.GetRequiredService<IRequestRouter>();
            var scheduler = host.Services.GetRequiredService<ModelRouterService>().Scheduler;
            progress.WriteLine($"bench-server: serving {settings.ModelPath} on tcp://{tcp}{(socketPath is null ? "" : " and unix:" + socketPath)}");

            var routeInProcess = MeasureRouteInProcess(router);
            table.Add("route-only decision", "in-process call", Us(routeInProcess.PercentileMicroseconds(50)), Us(routeInProcess.PercentileMicroseconds(99)), "", "", "");

            var transports = new List<(string Name, ModelRouterClient Client)>();
            try
            {
                transports.Add(("loopback TCP", await ConnectAsync(tcp, cancellation).ConfigureAwait(false)));
                if (socketPath is not null)
                {
                    transports.Add(("Unix socket", await ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellation).ConfigureAwait(false)));
                }

                foreach (var (name, client) in transports)
                {
                    await MeasureProtocolAsync(name, client, routeInProcess, cancellation).ConfigureAwait(false);
                }

                // Generation goes through the model, whose speed drifts with the machine: every path takes its turn in
                // each round, so drift hits all of them alike and the differences are the protocol's.
                var sink = new InProcessSink();
                var paths = new List<GenerationPath> { new("in-process scheduler", InProcessGenerate(scheduler, sink, cancellation)) };
                paths.AddRange(transports.Select(t => new GenerationPath(t.Name, SocketGenerate(t.Client, cancellation))));
                await MeasureGenerationAsync(paths).ConfigureAwait(false);
                AddGenerationRows(paths);
            }
            finally
            {
                foreach (var (_, client) in transports)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                }
            }

            return table;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static Task<ModelRouterClient> ConnectAsync(EndPoint endpoint, CancellationToken cancellation) =>
        ModelRouterClient.ConnectAsync(endpoint, Token, new ModelRouterClientOptions { ClientName = "bench-server" }, cancellation);

    /// <summary>What the protocol alone costs on one transport: no model involved.</summary>
    private async Task MeasureProtocolAsync(string name, ModelRouterClient client, LatencySamples routeInProcess, CancellationToken cancellation)
    {
        progress.WriteLine($"bench-server [{name}] ping round trips");
        var ping = await TimeAsync(settings.Requests, async () => await client.PingAsync(cancellation).ConfigureAwait(false)).ConfigureAwait(false);
        table.Add("ping round trip", name, Us(ping.PercentileMicroseconds(50)), Us(ping.PercentileMicroseconds(99)), "", "", "");

        progress.WriteLine($"bench-server [{name}] frames/s with {settings.Pipeline} pings in flight for {settings.FramesDuration.TotalSeconds:F0} s");
        var (completed, elapsed) = await PipelinedPingsAsync(client, cancellation).ConfigureAwait(false);
        table.Add($"frames/s, {settings.Pipeline} pings in flight", name, "", "", "", "",
            string.Create(CultureInfo.InvariantCulture, $"{2 * completed / elapsed.TotalSeconds:N0} frames/s ({completed / elapsed.TotalSeconds:N0} round trips/s)"));

        progress.WriteLine($"bench-server [{name}] route-only requests");
        var route = await TimeAsync(settings.Requests, async () => await client.RouteAsync(Prompt, cancellation).ConfigureAwait(false)).ConfigureAwait(false);
        AddLatencyRow("route-only decision", name, route, routeInProcess);
    }

    /// <summary>One-token generations, then streamed ones, round-robin over the paths.</summary>
    private async Task MeasureGenerationAsync(List<GenerationPath> paths)
    {
        progress.WriteLine($"bench-server one-token generations over {string.Join(", ", paths.Select(p => p.Name))}, interleaved (the first makes the model resident)");
        for (var i = 0; i < Math.Max(20, settings.Requests / 10); i++)
        {
            foreach (var path in paths)
            {
                await path.Generate(1).ConfigureAwait(false);
            }
        }

        foreach (var path in paths)
        {
            path.OneToken = new LatencySamples(settings.Requests);
        }

        for (var i = 0; i < settings.Requests; i++)
        {
            foreach (var path in paths)
            {
                var start = Stopwatch.GetTimestamp();
                await path.Generate(1).ConfigureAwait(false);
                path.OneToken!.Add(Stopwatch.GetTimestamp() - start);
            }
        }

        progress.WriteLine($"bench-server streamed generations of {settings.StreamTokens} tokens, interleaved");
        foreach (var path in paths)
        {
            await path.Generate(settings.StreamTokens).ConfigureAwait(false); // warm-up
        }

        for (var i = 0; i < settings.Streams; i++)
        {
            foreach (var path in paths)
            {
                var start = Stopwatch.GetTimestamp();
                path.StreamTokens += await path.Generate(settings.StreamTokens).ConfigureAwait(false);
                path.StreamTime += Stopwatch.GetElapsedTime(start);
            }
        }
    }

    private void AddGenerationRows(List<GenerationPath> paths)
    {
        var inProcess = paths[0];
        foreach (var path in paths)
        {
            if (ReferenceEquals(path, inProcess))
            {
                table.Add("generate, 1 token", path.Name, Us(path.OneToken!.PercentileMicroseconds(50)), Us(path.OneToken.PercentileMicroseconds(99)), "", "", "");
            }
            else
            {
                AddLatencyRow("generate, 1 token", path.Name, path.OneToken!, inProcess.OneToken!);
            }
        }

        var inProcessRate = inProcess.StreamTokens / inProcess.StreamTime.TotalSeconds;
        foreach (var path in paths)
        {
            var rate = path.StreamTokens / path.StreamTime.TotalSeconds;
            var share = ReferenceEquals(path, inProcess) ? "" : string.Create(CultureInfo.InvariantCulture, $" ({rate / inProcessRate:P1} of in-process)");
            table.Add($"token stream, {settings.StreamTokens} tokens", path.Name, "", "", "", "",
                string.Create(CultureInfo.InvariantCulture, $"{rate:N0} tokens/s ({path.StreamTokens} tokens)") + share);
        }
    }

    private Func<int, Task<int>> InProcessGenerate(Scheduler scheduler, InProcessSink sink, CancellationToken cancellation) =>
        async tokens => (await SubmitAsync(scheduler, sink, new GenerationRequest(Prompt) { MaxTokens = tokens, Sampling = SamplingParameters.Greedy }, cancellation)
            .ConfigureAwait(false)).GeneratedTokens;

    private static Func<int, Task<int>> SocketGenerate(ModelRouterClient client, CancellationToken cancellation) =>
        tokens => StreamOnceAsync(client, new GenerateRequest { Model = ModelName, Prompt = Prompt, MaxTokens = tokens, Temperature = 0 }, cancellation);

    /// <summary>A way to generate (in-process or over a transport) and what was measured through it.</summary>
    private sealed class GenerationPath(string name, Func<int, Task<int>> generate)
    {
        public string Name { get; } = name;

        /// <summary>Generates up to the given tokens (greedy); returns how many came.</summary>
        public Func<int, Task<int>> Generate { get; } = generate;

        public LatencySamples? OneToken { get; set; }

        public int StreamTokens { get; set; }

        public TimeSpan StreamTime { get; set; }
    }

    private void AddLatencyRow(string measurement, string path, LatencySamples over, LatencySamples inProcess)
    {
        var p50 = over.PercentileMicroseconds(50);
        var p99 = over.PercentileMicroseconds(99);
        table.Add(measurement, path, Us(p50), Us(p99), Us(p50 - inProcess.PercentileMicroseconds(50)), Us(p99 - inProcess.PercentileMicroseconds(99)), "");
    }

    private LatencySamples MeasureRouteInProcess(IRequestRouter router)
    {
        progress.WriteLine("bench-server [in-process] route-only decisions");
        for (var i = 0; i < Math.Min(200, settings.Requests); i++)
        {
            router.Route(Prompt, RouteHints.None);
        }

        var samples = new LatencySamples(settings.Requests);
        for (var i = 0; i < settings.Requests; i++)
        {
            var start = Stopwatch.GetTimestamp();
            router.Route(Prompt, RouteHints.None);
            samples.Add(Stopwatch.GetTimestamp() - start);
        }

        return samples;
    }

    private static async Task<int> StreamOnceAsync(ModelRouterClient client, GenerateRequest request, CancellationToken cancellation)
    {
        var tokens = 0;
        await foreach (var chunk in client.GenerateAsync(request, cancellation).ConfigureAwait(false))
        {
            tokens = chunk.Result is { } result ? result.Stats.GeneratedTokens : tokens + chunk.TokenCount;
        }

        return tokens;
    }

    private async Task<CompletionStats> SubmitAsync(Scheduler scheduler, InProcessSink sink, GenerationRequest generation, CancellationToken cancellation)
    {
        var done = sink.Next();
        if (!scheduler.TrySubmit(new InferenceRequest(nextId++, ModelName, generation, sink, cancellation), out var error, out var message))
        {
            throw new InvalidOperationException($"the scheduler refused the in-process request ({error}): {message}");
        }

        return await done.ConfigureAwait(false);
    }

    private async Task<(long Completed, TimeSpan Elapsed)> PipelinedPingsAsync(ModelRouterClient client, CancellationToken cancellation)
    {
        long completed = 0;
        var deadline = Stopwatch.GetTimestamp() + (long)(settings.FramesDuration.TotalSeconds * Stopwatch.Frequency);
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, settings.Pipeline).Select(async _ =>
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                await client.PingAsync(cancellation).ConfigureAwait(false);
                Interlocked.Increment(ref completed);
            }
        })).ConfigureAwait(false);
        return (completed, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>A tenth of the count (at least 20) untimed first, then every call timed on its own.</summary>
    private static async Task<LatencySamples> TimeAsync(int count, Func<Task> call)
    {
        for (var i = 0; i < Math.Max(20, count / 10); i++)
        {
            await call().ConfigureAwait(false);
        }

        var samples = new LatencySamples(count);
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await call().ConfigureAwait(false);
            samples.Add(Stopwatch.GetTimestamp() - start);
        }

        return samples;
    }

    /// <summary>Always sure of one task, so every route-only request runs the whole policy (the classifier's own cost
    /// is measured by eval-router).</summary>
    private sealed class FixedTaskClassifier(string task) : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => (task, 0.99f, false);
    }

    private static string Us(double microseconds) => microseconds.ToString("N1", CultureInfo.InvariantCulture);
}
