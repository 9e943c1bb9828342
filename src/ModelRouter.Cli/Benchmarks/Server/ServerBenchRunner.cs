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
using ModelRouter.Server.Doors.Http;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Benchmarks.Server;

/// <summary>
/// The server's own numbers, over one connection to a real server with a real model: frames/s, the latency the
/// protocol adds over the same call made in-process (route-only, and a one-token generation through the scheduler),
/// and streamed tokens/s against the same generation in-process. Loopback TCP, and a Unix domain socket where there is one.
/// The OpenAI-compatible HTTP door (loopback, one keep-alive connection) is measured in the same run against the same
/// model: it has no route-only endpoint, so its latency rows are one-token completions, named and routed ("auto"),
/// against the same completions made in-process through <see cref="RequestPipeline"/> (the doors' common path).
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
            .. settings.Http ? ["--ModelRouter:Http=http://127.0.0.1:0"] : Array.Empty<string>(),
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
            var pipeline = host.Services.GetRequiredService<RequestPipeline>();
            var httpAddress = settings.Http ? host.Services.GetRequiredService<HttpDoorService>().Address : null;
            progress.WriteLine($"bench-server: serving {settings.ModelPath} on tcp://{tcp}{(socketPath is null ? "" : " and unix:" + socketPath)}"
                + (httpAddress is null ? "" : $" and {httpAddress}"));

            var routeInProcess = MeasureRouteInProcess(router);
            table.Add("route-only decision", "in-process call", Us(routeInProcess.PercentileMicroseconds(50)), Us(routeInProcess.PercentileMicroseconds(99)), "", "", "");

            var transports = new List<(string Name, ModelRouterClient Client)>();
            using var http = httpAddress is null ? null : new HttpDoorClient(httpAddress, Token, ModelName);
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

                if (http is not null)
                {
                    progress.WriteLine("bench-server [http] GET /health round trips");
                    var health = await TimeAsync(settings.Requests, () => http.HealthAsync(cancellation)).ConfigureAwait(false);
                    table.Add("round trip, GET /health", HttpPath, Us(health.PercentileMicroseconds(50)), Us(health.PercentileMicroseconds(99)), "", "", "");
                }

                // Generation goes through the model, whose speed drifts with the machine: every path takes its turn in
                // each round, so drift hits all of them alike and the differences are the protocol's.
                //  - in-process scheduler: straight into the scheduler with a sink (no pipeline, no door): the socket
                //    rows' baseline, as before.
                //  - loopback TCP / Unix socket: ModelRouterClient → frames → socket door → RequestPipeline → scheduler,
                //    every token its own frame back (named model).
                //  - in-process pipeline: RequestPipeline.StartGeneration with an observer, as a door calls it
                //    (validation, in-flight slot, routing for "auto", scheduler), without wire, JSON or async stream:
                //    the HTTP rows' baseline, so that "added" is the HTTP door alone.
                //  - http: HttpClient → JSON body → Kestrel → authentication → GenerationEndpoints → RequestPipeline →
                //    GenerationResults → JSON answer (one-token rows) or SSE events (streams) → parsed by the client.
                var sink = new InProcessSink();
                var paths = new List<GenerationPath> { new(InProcessSchedulerPath, InProcessGenerate(scheduler, sink, cancellation)) };
                paths.AddRange(transports.Select(t => new GenerationPath(t.Name, SocketGenerate(t.Client, cancellation)) { Baseline = paths[0] }));
                if (http is not null)
                {
                    var observer = new InProcessObserver();
                    foreach (var (model, measurement) in new[] { (ModelName, "1-token completion, named model"), ("auto", "1-token completion, routed (model auto)") })
                    {
                        var named = model == ModelName;
                        var inProcess = new GenerationPath(InProcessPipelinePath, PipelineGenerate(pipeline, observer, model, cancellation))
                        {
                            OneTokenMeasurement = measurement,
                            Streams = named,
                            StreamBaselines = [paths[0]],
                        };
                        paths.Add(inProcess);
                        paths.Add(new GenerationPath(HttpPath, HttpGenerate(http, model, cancellation))
                        {
                            OneTokenMeasurement = measurement,
                            Baseline = inProcess,
                            Streams = named,
                            StreamBaselines = [inProcess, paths[0], .. paths.Where(p => p.Name == transports[0].Name)],
                            Stream = HttpStream(http, model, cancellation),
                            Events = () => http.LastTextEvents,
                        });
                    }
                }

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

    private const string InProcessSchedulerPath = "in-process scheduler";
    private const string InProcessPipelinePath = "in-process pipeline";
    private const string HttpPath = "http";

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
        progress.WriteLine($"bench-server one-token generations over {string.Join(", ", paths.Select(p => p.Label))}, interleaved (the first makes the model resident)");
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

        var streaming = paths.Where(p => p.Streams).ToList();
        progress.WriteLine($"bench-server streamed generations of {settings.StreamTokens} tokens over {string.Join(", ", streaming.Select(p => p.Name))}, interleaved");
        foreach (var path in streaming)
        {
            await path.Stream(settings.StreamTokens).ConfigureAwait(false); // warm-up
        }

        for (var i = 0; i < settings.Streams; i++)
        {
            foreach (var path in streaming)
            {
                var start = Stopwatch.GetTimestamp();
                path.StreamTokens += await path.Stream(settings.StreamTokens).ConfigureAwait(false);
                path.StreamTime += Stopwatch.GetElapsedTime(start);
                path.StreamEvents += path.Events?.Invoke() ?? 0;
            }
        }
    }

    private void AddGenerationRows(List<GenerationPath> paths)
    {
        foreach (var path in paths)
        {
            if (path.Baseline is null)
            {
                table.Add(path.OneTokenMeasurement, path.Name, Us(path.OneToken!.PercentileMicroseconds(50)), Us(path.OneToken.PercentileMicroseconds(99)), "", "", "");
            }
            else
            {
                AddLatencyRow(path.OneTokenMeasurement, path.Name, path.OneToken!, path.Baseline.OneToken!);
            }
        }

        foreach (var path in paths.Where(p => p.Streams))
        {
            string share;
            if (path.StreamBaselines is { } baselines)
            {
                share = " (" + string.Join(", ", baselines.Select(b => string.Create(CultureInfo.InvariantCulture, $"{path.Rate / b.Rate:P1} of {b.Name}"))) + ")";
            }
            else
            {
                // The socket rows, as they always read: against the in-process scheduler.
                share = path.Baseline is { } inProcess ? string.Create(CultureInfo.InvariantCulture, $" ({path.Rate / inProcess.Rate:P1} of in-process)") : "";
            }

            var events = path.Events is null ? "" : string.Create(CultureInfo.InvariantCulture, $" in {path.StreamEvents} SSE text events");
            table.Add($"token stream, {settings.StreamTokens} tokens", path.Name, "", "", "", "",
                string.Create(CultureInfo.InvariantCulture, $"{path.Rate:N0} tokens/s ({path.StreamTokens} tokens{events})") + share);
        }
    }

    private Func<int, Task<int>> InProcessGenerate(Scheduler scheduler, InProcessSink sink, CancellationToken cancellation) =>
        async tokens => (await SubmitAsync(scheduler, sink, new GenerationRequest(Prompt) { MaxTokens = tokens, Sampling = SamplingParameters.Greedy }, cancellation)
            .ConfigureAwait(false)).GeneratedTokens;

    private static Func<int, Task<int>> SocketGenerate(ModelRouterClient client, CancellationToken cancellation) =>
        tokens => StreamOnceAsync(client, new GenerateRequest { Model = ModelName, Prompt = Prompt, MaxTokens = tokens, Temperature = 0 }, cancellation);

    /// <summary>A completion of the prompt through the pipeline, greedy, as the doors ask for it; checks the served model.</summary>
    private static Func<int, Task<int>> PipelineGenerate(RequestPipeline pipeline, InProcessObserver observer, string model, CancellationToken cancellation) =>
        async tokens =>
        {
            var done = observer.Next();
            pipeline.StartGeneration(new GenerationCommand { Model = model, Prompt = Prompt, MaxTokens = tokens, Temperature = 0 }, observer, cancellation);
            var result = await done.ConfigureAwait(false);
            return result.Model == ModelName ? result.GeneratedTokens
                : throw new InvalidOperationException($"the in-process pipeline served {result.Model}, not {ModelName}");
        };

    /// <summary>Non-streaming POST /v1/completions (the one-token rows).</summary>
    private static Func<int, Task<int>> HttpGenerate(HttpDoorClient http, string model, CancellationToken cancellation)
    {
        var bodies = new Dictionary<int, byte[]>();
        return tokens => http.CompleteAsync(Body(bodies, model, tokens, stream: false), cancellation);
    }

    /// <summary>POST /v1/completions with "stream": true, read as SSE (the token-stream rows).</summary>
    private static Func<int, Task<int>> HttpStream(HttpDoorClient http, string model, CancellationToken cancellation)
    {
        var bodies = new Dictionary<int, byte[]>();
        return tokens => http.StreamAsync(Body(bodies, model, tokens, stream: true), cancellation);
    }

    private static byte[] Body(Dictionary<int, byte[]> bodies, string model, int tokens, bool stream)
    {
        if (!bodies.TryGetValue(tokens, out var body))
        {
            bodies[tokens] = body = HttpDoorClient.CompletionBody(model, Prompt, tokens, stream);
        }

        return body;
    }

    /// <summary>A way to generate (in-process or through a door) and what was measured through it.</summary>
    private sealed class GenerationPath(string name, Func<int, Task<int>> generate)
    {
        public string Name { get; } = name;

        /// <summary>The path with its measurement, for progress lines.</summary>
        public string Label => OneTokenMeasurement == "generate, 1 token" ? Name : $"{Name} ({OneTokenMeasurement})";

        /// <summary>Generates up to the given tokens (greedy); returns how many came. Timed for the one-token rows.</summary>
        public Func<int, Task<int>> Generate { get; } = generate;

        /// <summary>The same for the token-stream rows (by default <see cref="Generate"/>).</summary>
        public Func<int, Task<int>> Stream { get => field ?? Generate; init; }

        /// <summary>The one-token row's measurement name.</summary>
        public string OneTokenMeasurement { get; init; } = "generate, 1 token";

        /// <summary>What "added" is measured over; null for a baseline row.</summary>
        public GenerationPath? Baseline { get; init; }

        /// <summary>Whether this path also runs the token-stream rows.</summary>
        public bool Streams { get; init; } = true;

        /// <summary>What the stream row is a share of, each named; null: the socket rows' "(x % of in-process)" over <see cref="Baseline"/>.</summary>
        public IReadOnlyList<GenerationPath>? StreamBaselines { get; init; }

        /// <summary>SSE text events of the last stream (HTTP only).</summary>
        public Func<int>? Events { get; init; }

        public LatencySamples? OneToken { get; set; }

        public int StreamTokens { get; set; }

        public TimeSpan StreamTime { get; set; }

        public int StreamEvents { get; set; }

        public double Rate => StreamTokens / StreamTime.TotalSeconds;
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
