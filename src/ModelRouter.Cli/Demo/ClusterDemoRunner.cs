using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using ModelRouter.Cli.Reporting;
using ModelRouter.Cli.Simulation;
using ModelRouter.Client;
using ModelRouter.Cluster;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Forge;

namespace ModelRouter.Cli.Demo;

/// <summary>Settings of `modelrouter demo --nodes N`.</summary>
internal sealed record ClusterDemoSettings(string WorkDirectory, int Nodes, int Requests, double RatePerSecond, int Users, int Seed, bool Kill,
    IReadOnlyList<ClusterPolicy> Policies, int ModelsPerNode = 2, bool Silent = false, bool Restart = false, int HostModels = 0);

/// <summary>One request of the live run: where it entered, where it ran and why, and what the client saw.</summary>
internal sealed record ClusterDemoRequest(int Index, TimeSpan Sent, string User, string Model, string Entry, string Node, string Placement,
    double TtftMs, double TotalMs, bool Failed, string Error, double SwapMs = 0);

/// <summary>One policy's live run.</summary>
/// <param name="KilledAt">When the last node was killed, from the trace's start (null: no kill).</param>
/// <param name="DeadAfterMs">How long after the kill the first node's view stopped listing it (null: no kill, or not within 30 s).</param>
/// <param name="RestartedAt">When the killed node was started again (null: not restarted).</param>
/// <param name="RejoinedAfterMs">How long after its restart the first node's view listed it again (null: not within 60 s).</param>
internal sealed record ClusterDemoResult(ClusterPolicy Policy, IReadOnlyList<ClusterDemoRequest> Requests, long Swaps, TimeSpan Span,
    TimeSpan? KilledAt, double? DeadAfterMs, TimeSpan? RestartedAt = null, double? RejoinedAfterMs = null)
{
    public double SwapsPerMinute => Span > TimeSpan.Zero ? Swaps / Span.TotalMinutes : 0;

    public int Lost => Requests.Count(r => r.Failed);

    public double Ttft(double p) => PolicyRun.Percentile(Requests.Where(r => !r.Failed).Select(r => r.TtftMs), p);
}

/// <summary>
/// Issue 21's live demo and comparison: N real servers (`modelrouter serve`, one process each, so that a node can be
/// killed as a machine dies) join a cluster on loopback with forged models; users, each connected to one node as a
/// load balancer would spread them, send a skewed multi-user trace (Zipf model popularity, sticky sessions); every
/// request's entry node, serving node and the reason are printed. The same trace runs under each policy: the
/// residency-aware router, round-robin, static partitioning. With <see cref="ClusterDemoSettings.Kill"/> the last node
/// is killed (SIGKILL) at 60% of the trace, and the requests lost are counted.
/// </summary>
internal sealed class ClusterDemoRunner(ClusterDemoSettings settings, TextWriter output, TextWriter progress)
{
    private const string Token = "cluster-demo";

    /// <summary>How long a demo client waits for one answer before it counts the request as lost.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Six models, one at a time on each node's device: more models than nodes, so placement matters.</summary>
    internal static readonly DemoCatalog.Entry[] Models =
    [
        new("m1-chat", ForgeArchitecture.Llama, 6, 384, 1024, 6, 2, ForgeWeightType.Q4_0, "small", "interactive", 0, ["chat"]),
        new("m2-code", ForgeArchitecture.Llama, 6, 448, 1152, 7, 1, ForgeWeightType.Q4_0, "small", "interactive", 0, ["chat"]),
        new("m3-summary", ForgeArchitecture.Llama, 6, 512, 1280, 8, 2, ForgeWeightType.Q4_0, "small", "interactive", 0, ["chat"]),
        new("m4-extract", ForgeArchitecture.Llama, 7, 384, 1024, 6, 2, ForgeWeightType.Q4_0, "small", "interactive", 0, ["chat"]),
        new("m5-reason", ForgeArchitecture.Llama, 7, 448, 1152, 7, 1, ForgeWeightType.Q4_0, "small", "interactive", 0, ["chat"]),
        new("m6-creative", ForgeArchitecture.Llama, 7, 512, 1280, 8, 2, ForgeWeightType.Q4_0, "small", "interactive", 0, ["chat"]),
    ];

    private readonly Lock console = new();

    // Processes of nodes that were restarted: disposed with the nodes of their run.
    private readonly List<ClusterDemoNode> retired = [];

    public async Task<IReadOnlyList<ClusterDemoResult>> RunAsync(CancellationToken cancellation)
    {
        var paths = DemoCatalog.ForgeAll(Models, Path.Combine(settings.WorkDirectory, "models"), "[cluster]", "random-weight cluster demo model", progress, cancellation);
        var footprints = await DemoFootprints.MeasureAsync(paths, DemoCatalog.Scheduler(), cancellation).ConfigureAwait(false);
        // Room on each node's device for the largest ModelsPerNode models as they sit there serving (weights and the
        // generation context, which the pool counts as resident), plus half the smallest model's weights: never one
        // more, so a node that serves more models than that swaps.
        var loaded = footprints.Select(f => f.WeightBytes + f.GenerationContextBytes).OrderDescending().ToList();
        var budget = loaded.Take(settings.ModelsPerNode).Sum() + (footprints.Min(f => f.WeightBytes) / 2);
        // Host tier: the largest HostModels models' weights plus half the smallest's, in whole MB: never one more.
        var hostBudgetMb = settings.HostModels == 0 ? 0
            : (int)((footprints.Select(f => f.WeightBytes).OrderDescending().Take(settings.HostModels).Sum() + (footprints.Min(f => f.WeightBytes) / 2)) >> 20);
        var trace = SyntheticTrace.Generate(Models.Select(m => m.Name).ToList(), new SyntheticTraceOptions
        {
            Requests = settings.Requests,
            RatePerSecond = settings.RatePerSecond,
            Users = settings.Users,
            Seed = settings.Seed,
            PromptTokens = (16, 96),
            OutputTokens = (8, 24),
            PopularityShift = TimeSpan.Zero,
        });
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[cluster] {settings.Nodes} nodes, {Models.Length} models, a device budget of {budget:N0} bytes each ({settings.ModelsPerNode} models at a time); trace: {trace.Count} requests over {trace[^1].Arrival.TotalSeconds:F0} s from {settings.Users} users (Zipf popularity, sticky sessions, seed {settings.Seed})"));
        output.WriteLine("Models have random weights (forged): their text is gibberish by design; placement, swaps, timings and losses are real.");

        var results = new List<ClusterDemoResult>();
        foreach (var policy in settings.Policies)
        {
            results.Add(await RunPolicyAsync(policy, paths, budget, hostBudgetMb, trace, cancellation).ConfigureAwait(false));
        }

        PrintComparison(results);
        WriteCsv(results);
        return results;
    }

    private async Task<ClusterDemoResult> RunPolicyAsync(ClusterPolicy policy, IReadOnlyDictionary<string, string> paths, long budget, int hostBudgetMb,
        IReadOnlyList<TraceRequest> trace, CancellationToken cancellation)
    {
        var names = Enumerable.Range(0, settings.Nodes).Select(i => ((char)('a' + i)).ToString()).ToArray();
        var clusterId = string.Create(CultureInfo.InvariantCulture, $"demo-{policy}-{Environment.ProcessId}-{Stopwatch.GetTimestamp()}");
        var nodes = new List<ClusterDemoNode>();
        try
        {
            progress.WriteLine($"[cluster] {policy}: starting {settings.Nodes} nodes (`modelrouter serve`, one process each)");
            var primarySilo = 0;
            for (var i = 0; i < names.Length; i++)
            {
                var ports = (Tcp: FreePort(), Silo: FreePort(), Gateway: FreePort());
                primarySilo = i == 0 ? ports.Silo : primarySilo;
                var config = WriteConfig(names[i], ports, i == 0 ? null : primarySilo, clusterId, policy, paths, budget, hostBudgetMb);
                nodes.Add(ClusterDemoNode.Start(names[i], config, ports.Tcp, Path.Combine(settings.WorkDirectory, $"{policy}-{names[i]}.log")));
                if (i == 0)
                {
                    await nodes[0].WaitReadyAsync(Token, 1, cancellation).ConfigureAwait(false); // the membership table lives on a
                }
            }

            foreach (var node in nodes)
            {
                await node.WaitReadyAsync(Token, nodes.Count, cancellation).ConfigureAwait(false);
            }

            progress.WriteLine($"[cluster] {policy}: every node sees {nodes.Count} nodes; each loads every model once (its host tier then holds them all)");
            foreach (var node in nodes)
            {
                await WarmUpAsync(node, cancellation).ConfigureAwait(false);
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellation).ConfigureAwait(false); // two publish intervals: the directory shows it
            if (hostBudgetMb > 0)
            {
                // Placement releases what each node holds beyond its host budget once ActAfterPlacements (2) passes of
                // PlacementIntervalMs (500) agree: the trace starts on the placed host tiers.
                await Task.Delay(TimeSpan.FromSeconds(2), cancellation).ConfigureAwait(false);
                progress.WriteLine($"[cluster] {policy}: host tiers of {hostBudgetMb} MB each, as placed: {await HoldingsAsync(nodes, cancellation).ConfigureAwait(false)}");
            }

            progress.WriteLine($"[cluster] {policy}: replaying the trace");
            return await ReplayAsync(policy, nodes, trace, cancellation).ConfigureAwait(false);
        }
        finally
        {
            foreach (var node in nodes.Concat(retired))
            {
                await node.DisposeAsync().ConfigureAwait(false);
            }

            retired.Clear();
        }
    }

    private async Task<ClusterDemoResult> ReplayAsync(ClusterPolicy policy, List<ClusterDemoNode> nodes, IReadOnlyList<TraceRequest> trace,
        CancellationToken cancellation)
    {
        var users = trace.Select(r => r.User).Distinct().Order(StringComparer.Ordinal).Select((u, i) => new ClusterDemoUser(u, i % nodes.Count)).ToDictionary(u => u.Name);
        // Swaps during the trace only: the warm-up's first loads are counted by the nodes too.
        var baseline = new long[nodes.Count];
        await SampleOnceAsync(nodes, baseline, cancellation).ConfigureAwait(false);
        var swaps = (long[])baseline.Clone();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var sampling = SampleSwapsAsync(nodes, swaps, stop.Token);
        var start = Stopwatch.GetTimestamp();
        var killIndex = settings.Kill && nodes.Count > 1 ? (int)(trace.Count * 0.6) : -1;
        var restartIndex = killIndex >= 0 && settings.Restart ? (int)(trace.Count * 0.8) : -1;
        Task<double?> killed = Task.FromResult<double?>(null);
        Task<double?> rejoined = Task.FromResult<double?>(null);
        TimeSpan? killedAt = null, restartedAt = null;
        var sends = new List<Task<ClusterDemoRequest>>(trace.Count);
        for (var i = 0; i < trace.Count; i++)
        {
            var request = trace[i];
            var wait = request.Arrival - Stopwatch.GetElapsedTime(start);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellation).ConfigureAwait(false);
            }

            if (i == killIndex)
            {
                killedAt = Stopwatch.GetElapsedTime(start);
                killed = KillAsync(nodes, cancellation);
            }

            if (i == restartIndex)
            {
                restartedAt = Stopwatch.GetElapsedTime(start);
                rejoined = RestartAsync(nodes, swaps[^1], cancellation);
            }

            sends.Add(SendAsync(i, users[request.User], nodes, request, Stopwatch.GetElapsedTime(start), policy == settings.Policies[0], cancellation));
        }

        var requests = await Task.WhenAll(sends).ConfigureAwait(false);
        var span = Stopwatch.GetElapsedTime(start);
        if (settings.HostModels > 0)
        {
            progress.WriteLine($"[cluster] {policy}: host tiers at the end: {await HoldingsAsync(nodes, cancellation).ConfigureAwait(false)}");
        }

        await stop.CancelAsync().ConfigureAwait(false);
        await sampling.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await SampleOnceAsync(nodes, swaps, cancellation).ConfigureAwait(false);
        foreach (var user in users.Values)
        {
            await user.DisposeAsync().ConfigureAwait(false);
        }

        return new ClusterDemoResult(policy, requests, swaps.Sum() - baseline.Sum(), span, killedAt, await killed.ConfigureAwait(false),
            restartedAt, await rejoined.ConfigureAwait(false));
    }

    /// <summary>
    /// One short request per model on <paramref name="node"/> itself (flagged as forwarded, so it runs there): the first
    /// load of each model from its file, which every policy would pay alike, is out of the comparison, and every swap
    /// in the trace is a restore from the node's host tier, as in a server that has been up for a while.
    /// </summary>
    private static async Task WarmUpAsync(ClusterDemoNode node, CancellationToken cancellation)
    {
        await using var client = await ModelRouterClient.ConnectAsync(node.Endpoint, Token, new ModelRouterClientOptions { ClientName = "cluster-demo-warm-up" },
            cancellation).ConfigureAwait(false);
        foreach (var model in Models)
        {
            await client.CompleteAsync(new GenerateRequest { Prompt = "hello", Model = model.Name, MaxTokens = 1, Temperature = 0, Forwarded = true }, cancellation)
                .ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Kills the last node (SIGKILL: no goodbye), or with <see cref="ClusterDemoSettings.Silent"/> stops it (SIGSTOP: it
    /// hangs with its connections open, as a hung machine or a partition looks), and measures how long the first node's
    /// view keeps listing it.
    /// </summary>
    private async Task<double?> KillAsync(List<ClusterDemoNode> nodes, CancellationToken cancellation)
    {
        var victim = nodes[^1];
        lock (console)
        {
            output.WriteLine(settings.Silent ? $"  *** stopping node {victim.Name} (SIGSTOP: hung, connections open) ***" : $"  *** killing node {victim.Name} (SIGKILL) ***");
        }

        var killedAt = Stopwatch.GetTimestamp();
        if (settings.Silent)
        {
            victim.Stop();
        }
        else
        {
            victim.Kill();
        }
        return await WaitForViewAsync(nodes[0], count => count < nodes.Count, killedAt, TimeSpan.FromSeconds(30), cancellation).ConfigureAwait(false);
    }

    /// <summary>
    /// Polls <paramref name="observer"/>'s view every 20 ms until its node count satisfies <paramref name="holds"/>;
    /// returns the milliseconds since <paramref name="since"/>, or null when <paramref name="bound"/> passed first.
    /// </summary>
    private static async Task<double?> WaitForViewAsync(ClusterDemoNode observer, Func<int, bool> holds, long since, TimeSpan bound, CancellationToken cancellation)
    {
        while (Stopwatch.GetElapsedTime(since) < bound)
        {
            if (await observer.ClusterNodesAsync(Token, cancellation).ConfigureAwait(false) is { } count && holds(count))
            {
                return Stopwatch.GetElapsedTime(since).TotalMilliseconds;
            }

            await Task.Delay(20, cancellation).ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>
    /// Starts the killed node again, as a machine that reboots: same name, config and ports, its models not yet loaded.
    /// Returns how long until the first node's view lists it again. The dead process is disposed with the others.
    /// </summary>
    private async Task<double?> RestartAsync(List<ClusterDemoNode> nodes, long carriedSwaps, CancellationToken cancellation)
    {
        var dead = nodes[^1];
        dead.Kill(); // a stopped (SIGSTOP) node is killed first
        await dead.WaitForExitAsync(cancellation).ConfigureAwait(false);
        lock (console)
        {
            output.WriteLine($"  *** restarting node {dead.Name} ***");
        }

        var restartedAt = Stopwatch.GetTimestamp();
        retired.Add(dead);
        nodes[^1] = dead.Restart(carriedSwaps);
        return await WaitForViewAsync(nodes[0], count => count == nodes.Count, restartedAt, TimeSpan.FromSeconds(60), cancellation).ConfigureAwait(false);
    }

    /// <summary>Each node's models in host RAM or on its device (marked *), e.g. "a: m1-chat* m3-summary | b: ...".</summary>
    private static async Task<string> HoldingsAsync(List<ClusterDemoNode> nodes, CancellationToken cancellation)
    {
        var parts = new List<string>(nodes.Count);
        foreach (var node in nodes)
        {
            var held = await node.HeldModelsAsync(Token, cancellation).ConfigureAwait(false);
            parts.Add($"{node.Name}: {(held is null ? "(no answer)" : string.Join(' ', held))}");
        }

        return string.Join(" | ", parts);
    }

    private async Task<ClusterDemoRequest> SendAsync(int index, ClusterDemoUser user, List<ClusterDemoNode> nodes, TraceRequest request, TimeSpan sent,
        bool print, CancellationToken cancellation)
    {
        var entry = nodes[user.Entry % nodes.Count];
        var started = Stopwatch.GetTimestamp();
        var ttft = double.NaN;
        ClusterDemoRequest result;
        // A client's own bound: a hung entry node (SIGSTOP) would otherwise hold the request for ever.
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        bound.CancelAfter(RequestTimeout);
        try
        {
            var client = await user.ClientAsync(nodes, Token, bound.Token).ConfigureAwait(false);
            entry = nodes[user.Entry % nodes.Count];
            GenerationResult? done = null;
            await foreach (var chunk in client.GenerateAsync(new GenerateRequest
            {
                Prompt = Simulation.Validation.ValidationCatalog.Prompt(request.PromptTokens),
                Model = request.Model,
                MaxTokens = request.OutputTokens,
                Temperature = 0,
            }, bound.Token).ConfigureAwait(false))
            {
                if (double.IsNaN(ttft) && chunk.TokenCount > 0)
                {
                    ttft = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                done ??= chunk.Result;
            }

            result = new ClusterDemoRequest(index, sent, user.Name, request.Model, entry.Name, done!.Node, done.Placement, ttft,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds, double.IsNaN(ttft), "", done.Stats.SwapTime.TotalMilliseconds);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            await user.AbandonAsync().ConfigureAwait(false); // its node does not answer: the balancer moves it on
            result = new ClusterDemoRequest(index, sent, user.Name, request.Model, entry.Name, "", "", ttft, Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                true, $"no answer within {RequestTimeout.TotalSeconds:F0} s");
        }
        catch (Exception ex) when (ex is ModelRouterException or SocketException or IOException or TimeoutException)
        {
            result = new ClusterDemoRequest(index, sent, user.Name, request.Model, entry.Name, "", "", ttft, Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                true, ex.Message);
        }

        if (print)
        {
            lock (console)
            {
                output.WriteLine(result.Failed
                    ? string.Create(CultureInfo.InvariantCulture, $"  #{index,3} {sent.TotalSeconds,6:F1}s {user.Name,-8} {request.Model,-12} entered {result.Entry}  LOST: {result.Error}")
                    : string.Create(CultureInfo.InvariantCulture,
                        $"  #{index,3} {sent.TotalSeconds,6:F1}s {user.Name,-8} {request.Model,-12} entered {result.Entry} → ran on {result.Node} ({result.Placement})  TTFT {result.TtftMs,6:F1} ms"));
            }
        }

        return result;
    }

    private static async Task SampleSwapsAsync(List<ClusterDemoNode> nodes, long[] swaps, CancellationToken cancellation)
    {
        while (!cancellation.IsCancellationRequested)
        {
            await SampleOnceAsync(nodes, swaps, cancellation).ConfigureAwait(false);
            await Task.Delay(250, cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>Each live node's swap count; a killed node keeps its last sample.</summary>
    private static async Task SampleOnceAsync(List<ClusterDemoNode> nodes, long[] swaps, CancellationToken cancellation)
    {
        for (var i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            if (await node.SwapsAsync(Token, cancellation).ConfigureAwait(false) is { } count)
            {
                swaps[i] = node.CarriedSwaps + count;
            }
        }
    }

    private void PrintComparison(List<ClusterDemoResult> results)
    {
        var table = new TextTable("policy", "requests", "lost on the kill", "TTFT p50 ms", "TTFT p95 ms", "TTFT p99 ms", "swaps/min", "forwarded", "kill seen after ms");
        foreach (var r in results)
        {
            var forwarded = r.Requests.Count(q => !q.Failed && q.Node != q.Entry);
            table.Add(Name(r.Policy), r.Requests.Count.ToString(CultureInfo.InvariantCulture), r.Lost.ToString(CultureInfo.InvariantCulture),
                Format(r.Ttft(50)), Format(r.Ttft(95)), Format(r.Ttft(99)), Format(r.SwapsPerMinute, "F2"), forwarded.ToString(CultureInfo.InvariantCulture),
                r.DeadAfterMs is { } dead ? Format(dead, "F0") : "-");
        }

        output.WriteLine();
        output.WriteLine(table.ToText());
        foreach (var r in results.Where(r => r.RestartedAt is not null))
        {
            var victim = ((char)('a' + settings.Nodes - 1)).ToString();
            var after = r.Requests.Count(q => !q.Failed && q.Node == victim && q.Sent > r.RestartedAt!.Value);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Name(r.Policy)}: node {victim} restarted at {r.RestartedAt!.Value.TotalSeconds:F1} s, back in the first node's view after {(r.RejoinedAfterMs is { } ms ? ms.ToString("F0", CultureInfo.InvariantCulture) + " ms" : "more than 60 s")}; {after} requests ran on it afterwards"));
        }

        if (results.Count > 1 && results[0].Policy == ClusterPolicy.ResidencyAware)
        {
            foreach (var other in results.Skip(1))
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"residency-aware against {Name(other.Policy)}: p95 TTFT {other.Ttft(95) / results[0].Ttft(95):F1}x better, {(results[0].SwapsPerMinute > 0 ? other.SwapsPerMinute / results[0].SwapsPerMinute : double.PositiveInfinity):F1}x fewer swaps"));
            }
        }
    }

    private void WriteCsv(List<ClusterDemoResult> results)
    {
        var path = Path.Combine(settings.WorkDirectory, "cluster-demo.csv");
        var csv = new StringBuilder("policy,index,sent_ms,user,model,entry,node,placement,ttft_ms,total_ms,swap_ms,failed,error\n");
        foreach (var r in results)
        {
            foreach (var q in r.Requests)
            {
                csv.Append(CultureInfo.InvariantCulture,
                    $"{Name(r.Policy)},{q.Index},{q.Sent.TotalMilliseconds:F1},{q.User},{q.Model},{q.Entry},{q.Node},\"{q.Placement.Replace('"', '\'')}\",{q.TtftMs:F1},{q.TotalMs:F1},{q.SwapMs:F1},{(q.Failed ? 1 : 0)},\"{q.Error.Replace('"', '\'')}\"\n");
            }
        }

        File.WriteAllText(path, csv.ToString());
        output.WriteLine($"every request: {path}");
    }

    internal static string Name(ClusterPolicy policy) => policy switch
    {
        ClusterPolicy.ResidencyAware => "residency-aware",
        ClusterPolicy.RoundRobin => "round-robin",
        _ => "static-partition",
    };

    private static string Format(double value, string format = "F1") =>
        double.IsNaN(value) ? "-" : value.ToString(format, CultureInfo.InvariantCulture);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private string WriteConfig(string name, (int Tcp, int Silo, int Gateway) ports, int? primarySilo, string clusterId, ClusterPolicy policy,
        IReadOnlyDictionary<string, string> paths, long budget, int hostBudgetMb)
    {
        var scheduler = DemoCatalog.Scheduler();
        var path = Path.Combine(settings.WorkDirectory, $"node-{name}.json");
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartObject("ModelRouter");
            json.WriteString("Tcp", string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{ports.Tcp}"));
            json.WriteString("AuthToken", Token);
            json.WriteNumber("DeviceBudgetBytes", budget);
            json.WriteString("DefaultModel", Models[0].Name);
            json.WriteStartObject("Scheduler");
            json.WriteNumber("MaxBatchPerModel", scheduler.MaxBatchPerModel);
            json.WriteNumber("ContextPerSequence", scheduler.ContextPerSequence);
            json.WriteNumber("Threads", 1); // three nodes share this machine's cores
            json.WriteNumber("MaxWaitMs", scheduler.MaxWaitMs);
            json.WriteNumber("MinResidencyMs", scheduler.MinResidencyMs);
            json.WriteEndObject();
            json.WriteStartArray("Models");
            foreach (var model in Models)
            {
                json.WriteStartObject();
                json.WriteString("Name", model.Name);
                json.WriteString("Path", Path.GetFullPath(paths[model.Name]));
                json.WriteStartArray("Capabilities");
                json.WriteStringValue("chat");
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartObject("Cluster");
            json.WriteBoolean("Enabled", true);
            json.WriteString("Provider", "Localhost");
            json.WriteString("Policy", policy.ToString());
            json.WriteString("NodeName", name);
            json.WriteString("ClusterId", clusterId);
            json.WriteNumber("SiloPort", ports.Silo);
            json.WriteNumber("GatewayPort", ports.Gateway);
            if (primarySilo is { } primary)
            {
                json.WriteString("PrimaryNode", string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{primary}"));
            }

            json.WriteString("ForwardEndpoint", string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{ports.Tcp}"));
            json.WriteNumber("PublishIntervalMs", 200);
            json.WriteNumber("ProbeTimeoutMs", 500);
            json.WriteNumber("HostBudgetMb", hostBudgetMb);
            json.WriteNumber("PlacementIntervalMs", 500);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }

        File.WriteAllBytes(path, buffer.ToArray());
        return path;
    }
}
