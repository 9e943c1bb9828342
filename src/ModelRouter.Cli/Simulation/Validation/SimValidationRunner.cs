using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Cli.Demo;
using ModelRouter.Cli.Reporting;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;

namespace ModelRouter.Cli.Simulation.Validation;

/// <summary>Settings of one `modelrouter validate-simulator` run.</summary>
internal sealed record SimValidationSettings
{
    public required string Directory { get; init; }

    public int Requests { get; init; } = 160;

    public double RatePerSecond { get; init; } = 0.8;

    public int Seed { get; init; } = 42;

    /// <summary>Decode threads of the server (0: llama.cpp's default).</summary>
    public int Threads { get; init; }

    /// <summary>The agreement the issue asks for, on p50 and p95 TTFT.</summary>
    public double Tolerance { get; init; } = 0.15;
}

/// <summary>
/// Checks the simulator against the live server (issue 18, point 5): forged models, this machine's micro-benchmarked
/// profile (<see cref="ProfileCalibration"/>), then two synthetic multi-user traces replayed in real time against one
/// real server (socket door, real swaps under a budget that holds one model at a time): a calibration trace, from which
/// <see cref="LoadCalibration"/> takes the live swaps and fits one compute factor, and the validation trace, which goes
/// (the arrivals as sent, the token counts as served) through the simulator's <c>modelrouter</c> policy with the same
/// scheduler settings and budget and the profile under load. Reports p50/p95 TTFT of both, the micro-benchmarked
/// profile's own figures beside, and whether they agree within the tolerance.
/// </summary>
internal sealed class SimValidationRunner(SimValidationSettings settings, TextWriter progress)
{
    private const string Token = "validate";

    public async Task<SimValidationResult> RunAsync(CancellationToken cancellation)
    {
        System.IO.Directory.CreateDirectory(settings.Directory);
        var scheduler = ValidationCatalog.Scheduler(settings.Threads);
        var paths = ValidationCatalog.Forge(Path.Combine(settings.Directory, "models"), progress, cancellation);
        var footprints = await DemoFootprints.MeasureAsync(paths, scheduler, cancellation).ConfigureAwait(false);
        var budget = ValidationCatalog.Budget(footprints);
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[validate] budget {budget / 1e6:F1} MB of weights: one model at a time ({string.Join(", ", footprints.Select(f => $"{f.Name} {f.WeightBytes / 1e6:F1} MB"))})"));
        var profile = await ProfileCalibration.MeasureAsync(paths, footprints, scheduler, budget, progress, cancellation).ConfigureAwait(false);

        var planned = Trace(settings.Seed);
        // The calibration trace: the same generator with the next seed, replayed first against the same server. The load
        // factors are fitted on it (LoadCalibration); the validation trace is not used in any fit.
        var calibration = Trace(settings.Seed + 1);
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[validate] replaying {calibration.Count} calibration requests (seed {settings.Seed + 1}, {calibration[^1].Arrival.TotalSeconds:F0} s), then {planned.Count} validation requests (seed {settings.Seed}, {planned[^1].Arrival.TotalSeconds:F0} s), against the live server"));
        var (replays, dispatchMs) = await ReplayAsync(paths, budget, scheduler, profile, [calibration, planned], cancellation).ConfigureAwait(false);
        var (calibrationLive, live) = (replays[0], replays[1]);

        // Other work on the machine changes its speed over minutes: measured again after the replay, the profile the
        // simulator gets is the mean of both, and how far they differ is reported (a large drift voids the comparison).
        progress.WriteLine("[validate] measuring the profile again after the replay");
        var after = await ProfileCalibration.MeasureAsync(paths, footprints, scheduler, budget, progress, cancellation).ConfigureAwait(false);
        var drift = profile.Models.Zip(after.Models).Max(p => Math.Abs(p.First.DecodeTokensPerSecond - p.Second.DecodeTokensPerSecond)
            / Math.Max(p.First.DecodeTokensPerSecond, p.Second.DecodeTokensPerSecond));
        profile = new SwapProfile(profile.Name, profile.Models.Zip(after.Models).Select(p => ProfileCalibration.Mean(p.First, p.Second)).ToList())
        {
            DispatchMs = dispatchMs,
        };
        var failedLive = live.Count(r => r.Failed) + calibrationLive.Count(r => r.Failed);
        var options = scheduler.ToSchedulerOptions();
        progress.WriteLine("[validate] fitting the compute factor on the calibration replay");
        var calibrationServed = calibrationLive.Where(r => !r.Failed).ToList();
        var fit = LoadCalibration.Fit(profile, AsServed(calibrationServed), calibrationServed.Select(r => r.TtftMs).ToArray(),
            calibrationServed.Select(r => r.SwapMs).ToArray(), budget, options);
        var underLoad = LoadCalibration.UnderLoad(profile, fit.SwapMs, fit.Compute);
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[validate] under load: swaps {string.Join(", ", underLoad.Models.Select(m => $"{m.Model} {m.RestoreMs:F1} ms"))} (live median + context); compute x{fit.Compute:F2} (mean |ln(sim/live)| over TTFT p10-p95 of the calibration replay: {fit.Error:F3})"));

        // The simulator gets the trace as it happened: when each request was sent, and the tokens the server counted.
        var served = live.Where(r => !r.Failed).ToList();
        var trace = AsServed(served);
        progress.WriteLine("[validate] simulating the validation trace with the profile under load, and with the profile as micro-benchmarked");
        var simulated = SchedulerSimulation.Run(underLoad, trace, budget, options);
        var unscaled = SchedulerSimulation.Run(profile, trace, budget, options);

        var result = new SimValidationResult(underLoad, budget, served.Select(r => r.TtftMs).ToArray(), simulated.TtftMs, failedLive, simulated.Failed,
            settings.Tolerance, LoadAverage(), drift)
        {
            Calibration = fit,
            MeasuredProfile = profile,
            UnscaledTtftMs = unscaled.TtftMs,
            CalibrationTtftMs = calibrationServed.Select(r => r.TtftMs).ToArray(),
        };
        Write(result, served, simulated, unscaled);
        WriteRequests("calibration.csv", calibrationServed, SchedulerSimulation.Run(underLoad, AsServed(calibrationServed), budget, options), null);
        return result;
    }

    private IReadOnlyList<TraceRequest> Trace(int seed) => SyntheticTrace.Generate(ValidationCatalog.Models.Select(m => m.Name).ToList(), new SyntheticTraceOptions
    {
        Requests = settings.Requests,
        RatePerSecond = settings.RatePerSecond,
        Users = 8,
        Seed = seed,
        PopularityShift = TimeSpan.FromSeconds(30),
        PromptTokens = (32, 320),
        OutputTokens = (8, 48),
    });

    private static List<TraceRequest> AsServed(List<LiveRequest> served) =>
        served.Select(r => new TraceRequest(r.Sent, r.Planned.Model, r.PromptTokens, Math.Max(1, r.GeneratedTokens), r.Planned.User)).ToList();

    /// <summary>Replays each trace in turn, in real time, against one live server; a trace starts when the one before has ended.</summary>
    private async Task<(List<LiveRequest>[] Replays, double DispatchMs)> ReplayAsync(IReadOnlyDictionary<string, string> paths, long budget,
        SchedulerSettings scheduler, SwapProfile profile, IReadOnlyList<TraceRequest>[] traces, CancellationToken cancellation)
    {
        var args = new List<string>
        {
            "--ModelRouter:Tcp=127.0.0.1:0",
            "--ModelRouter:AuthToken=" + Token,
            "--ModelRouter:DeviceBudgetBytes=" + budget.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:DefaultModel=" + ValidationCatalog.Models[0].Name,
            "--ModelRouter:Scheduler:MaxBatchPerModel=" + scheduler.MaxBatchPerModel.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Scheduler:ContextPerSequence=" + scheduler.ContextPerSequence.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Scheduler:Threads=" + scheduler.Threads.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Scheduler:EmbeddingTokensPerInput=" + scheduler.EmbeddingTokensPerInput.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Scheduler:EmbeddingInputsPerDecode=" + scheduler.EmbeddingInputsPerDecode.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Scheduler:MinResidencyMs=" + scheduler.MinResidencyMs.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Scheduler:MaxWaitMs=" + scheduler.MaxWaitMs.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Scheduler:FairShareTokens=" + scheduler.FairShareTokens.ToString(CultureInfo.InvariantCulture),
            // The simulator's cost model has no KV cache: no prefix reuse (the validation prompts share prefixes, so the
            // live server would skip prefill the simulator charges) and no KV saved to host memory when a context is
            // released (which the live swap would pay and the measured restore does not hold). Both off here.
            "--ModelRouter:Scheduler:PrefixCacheTokens=0",
            "--ModelRouter:Scheduler:HostKvBudgetBytes=0",
        };
        var index = 0;
        foreach (var (name, path) in paths.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            args.Add($"--ModelRouter:Models:{index}:Name={name}");
            args.Add($"--ModelRouter:Models:{index}:Path={Path.GetFullPath(path)}");
            args.Add($"--ModelRouter:Models:{index}:Capabilities:0=chat");
            index++;
        }

        var builder = ModelRouterHost.CreateBuilder([.. args], configFile: null, new NamedModelsOnly());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("llama.cpp", LogLevel.Error);
        using var host = builder.Build();
        await host.StartAsync(cancellation).ConfigureAwait(false);
        try
        {
            var endpoint = host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
            var clients = new Dictionary<string, ModelRouterClient>(StringComparer.Ordinal);
            try
            {
                foreach (var user in traces.SelectMany(t => t).Select(r => r.User).Distinct())
                {
                    clients[user] = await ModelRouterClient.ConnectAsync(endpoint, Token,
                        new ModelRouterClientOptions { ClientName = "validate-" + user }, cancellation).ConfigureAwait(false);
                }

                var dispatchMs = await WarmUpAsync(clients.Values.First(), profile, cancellation).ConfigureAwait(false);
                await ReportQuietSwapsAsync(clients.Values.First(), profile, cancellation).ConfigureAwait(false);
                var replays = new List<LiveRequest>[traces.Length];
                for (var i = 0; i < traces.Length; i++)
                {
                    replays[i] = await ReplayOneAsync(clients, traces[i], i == 0 && traces.Length > 1 ? "calibration" : "validation", cancellation)
                        .ConfigureAwait(false);
                }

                return (replays, dispatchMs);
            }
            finally
            {
                foreach (var client in clients.Values)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StopAsync(stop.Token).ConfigureAwait(false);
        }
    }

    private async Task<List<LiveRequest>> ReplayOneAsync(Dictionary<string, ModelRouterClient> clients, IReadOnlyList<TraceRequest> trace, string label,
        CancellationToken cancellation)
    {
        var start = Stopwatch.GetTimestamp();
        var done = 0;
        var requests = trace.Select(async request =>
        {
            var wait = request.Arrival - Stopwatch.GetElapsedTime(start);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellation).ConfigureAwait(false);
            }

            var result = await SendAsync(clients[request.User], request, Stopwatch.GetElapsedTime(start), cancellation).ConfigureAwait(false);
            var count = Interlocked.Increment(ref done);
            if (count % 10 == 0 || count == trace.Count)
            {
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[validate] live {label}: {count}/{trace.Count} done ({Stopwatch.GetElapsedTime(start).TotalSeconds:F0} s)"));
            }

            return result;
        }).ToList();
        return [.. await Task.WhenAll(requests).ConfigureAwait(false)];
    }

    /// <summary>
    /// Loads every model once (the host tier then holds them all, as the simulator assumes; the JIT is warm) and measures
    /// the latency a request has outside the scheduler: six short requests in a row per model, the last five on a
    /// resident model, TTFT less the profile's prefill time for the prompt.
    /// </summary>
    private async Task<double> WarmUpAsync(ModelRouterClient client, SwapProfile profile, CancellationToken cancellation)
    {
        var overheads = new List<double>();
        foreach (var cost in profile.Models)
        {
            for (var i = 0; i < 6; i++)
            {
                var warm = new TraceRequest(TimeSpan.Zero, cost.Model, 8, 1, "warm-up");
                var result = await SendAsync(client, warm, TimeSpan.Zero, cancellation).ConfigureAwait(false);
                if (result.Failed)
                {
                    throw new InvalidOperationException($"validate-simulator: the warm-up request to {cost.Model} failed");
                }

                if (i > 0)
                {
                    overheads.Add(result.TtftMs - cost.PrefillMs(result.PromptTokens));
                }
            }
        }

        var dispatch = Math.Max(0, overheads.Order().ElementAt(overheads.Count / 2));
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[validate] every model loaded once; latency outside the scheduler (door, hand-offs, delivery): {dispatch:F1} ms (median of {overheads.Count})"));
        return dispatch;
    }

    /// <summary>
    /// Swaps in the live server with nothing else running: one short request per model in turn, four rounds (each a real
    /// evict + restore under the one-model budget), the pool's own swap time per model printed beside the calibration's.
    /// Tells a live swap that is slow in itself (the server's state) from one slowed by the replay's concurrent work.
    /// </summary>
    private async Task ReportQuietSwapsAsync(ModelRouterClient client, SwapProfile profile, CancellationToken cancellation)
    {
        var swaps = profile.Models.ToDictionary(m => m.Model, _ => new List<double>(), StringComparer.Ordinal);
        for (var round = 0; round < 4; round++)
        {
            foreach (var cost in profile.Models)
            {
                var result = await SendAsync(client, new TraceRequest(TimeSpan.Zero, cost.Model, 8, 1, "swaps"), TimeSpan.Zero, cancellation).ConfigureAwait(false);
                if (!result.Failed && result.SwapMs > 0)
                {
                    swaps[cost.Model].Add(result.SwapMs);
                }
            }
        }

        var each = profile.Models.Select(m => string.Create(CultureInfo.InvariantCulture,
            $"{m.Model} {PolicyRun.Percentile(swaps[m.Model], 50):F1} ms ({m.RestoreMs:F1})"));
        progress.WriteLine("[validate] live swaps with nothing else running (the pool's restore, median of 4; calibrated with its context): "
            + string.Join(", ", each));
    }

    private static async Task<LiveRequest> SendAsync(ModelRouterClient client, TraceRequest request, TimeSpan sent, CancellationToken cancellation)
    {
        var started = Stopwatch.GetTimestamp();
        var ttft = double.NaN;
        try
        {
            await foreach (var chunk in client.GenerateAsync(new GenerateRequest
            {
                Prompt = ValidationCatalog.Prompt(request.PromptTokens),
                Model = request.Model,
                MaxTokens = request.OutputTokens,
                Temperature = 0,
            }, cancellation).ConfigureAwait(false))
            {
                if (double.IsNaN(ttft) && chunk.TokenCount > 0)
                {
                    ttft = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                if (chunk.Result is { } result)
                {
                    return new LiveRequest(request, sent, ttft, result.Stats.PromptTokens, result.Stats.GeneratedTokens, Failed: double.IsNaN(ttft))
                    {
                        QueueMs = result.Stats.QueueWait.TotalMilliseconds,
                        SwapMs = result.Stats.SwapTime.TotalMilliseconds,
                        ServerTtftMs = result.Stats.TimeToFirstToken.TotalMilliseconds,
                    };
                }
            }
        }
        catch (ModelRouterException ex)
        {
            Console.Error.WriteLine($"[validate] a live request failed: {ex.Message}");
        }

        return new LiveRequest(request, sent, ttft, 0, 0, Failed: true);
    }

    private void Write(SimValidationResult result, List<LiveRequest> served, PolicyRun simulated, PolicyRun unscaled)
    {
        var table = result.Table();
        File.WriteAllText(Path.Combine(settings.Directory, "validation.md"), table.ToMarkdown());
        File.WriteAllText(Path.Combine(settings.Directory, "validation.json"), result.ToJson());
        WriteRequests("requests.csv", served, simulated, unscaled);
        progress.WriteLine(table.ToText());
        progress.WriteLine("wrote " + settings.Directory);
    }

    /// <summary>
    /// Each live request with its simulated TTFT and the server's own split of it (queue for the model, swap, TTFT as the
    /// server saw it), which shows where a disagreement comes from.
    /// </summary>
    private void WriteRequests(string file, List<LiveRequest> served, PolicyRun simulated, PolicyRun? unscaled)
    {
        var csv = new StringBuilder("sent_ms,model,prompt_tokens,output_tokens,user,live_ttft_ms,sim_ttft_ms,unscaled_sim_ttft_ms,live_queue_ms,live_swap_ms,live_server_ttft_ms\n");
        for (var i = 0; i < served.Count; i++)
        {
            var r = served[i];
            var other = unscaled is null ? "" : unscaled.TtftMs[i].ToString("F1", CultureInfo.InvariantCulture);
            csv.Append(CultureInfo.InvariantCulture,
                $"{r.Sent.TotalMilliseconds:F1},{r.Planned.Model},{r.PromptTokens},{r.GeneratedTokens},{r.Planned.User},{r.TtftMs:F1},{simulated.TtftMs[i]:F1},{other},{r.QueueMs:F1},{r.SwapMs:F1},{r.ServerTtftMs:F1}\n");
        }

        File.WriteAllText(Path.Combine(settings.Directory, file), csv.ToString());
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private sealed record LiveRequest(TraceRequest Planned, TimeSpan Sent, double TtftMs, int PromptTokens, int GeneratedTokens, bool Failed)
    {
        public double QueueMs { get; init; }

        public double SwapMs { get; init; }

        public double ServerTtftMs { get; init; }
    }

    /// <summary>Every validation request names its model; nothing is routed.</summary>
    private sealed class NamedModelsOnly : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => ("chat", 1f, false);
    }
}

/// <summary>The outcome of a validation: both TTFT distributions and their agreement.</summary>
internal sealed record SimValidationResult(SwapProfile Profile, long BudgetBytes, double[] LiveTtftMs, double[] SimulatedTtftMs, int LiveFailed,
    int SimulatedFailed, double Tolerance, string LoadAverage, double ProfileDrift)
{
    /// <summary>What the calibration replay measured and fitted (<see cref="LoadCalibration"/>), applied to <see cref="Profile"/>.</summary>
    public LoadCalibrationResult? Calibration { get; init; }

    /// <summary>The micro-benchmarked profile (mean of before and after the replays), before the calibration replay's corrections.</summary>
    public SwapProfile? MeasuredProfile { get; init; }

    /// <summary>The validation trace simulated with the micro-benchmarked profile alone (no load factors), for comparison.</summary>
    public double[] UnscaledTtftMs { get; init; } = [];

    /// <summary>Live TTFTs of the calibration replay (the fit's target).</summary>
    public double[] CalibrationTtftMs { get; init; } = [];

    public double Live(double percentile) => PolicyRun.Percentile(LiveTtftMs, percentile);

    public double Simulated(double percentile) => PolicyRun.Percentile(SimulatedTtftMs, percentile);

    /// <summary>|simulated − live| / live at <paramref name="percentile"/>.</summary>
    public double Error(double percentile) => Math.Abs(Simulated(percentile) - Live(percentile)) / Live(percentile);

    public bool Agrees => LiveFailed == 0 && SimulatedFailed == 0 && Error(50) <= Tolerance && Error(95) <= Tolerance;

    public TextTable Table()
    {
        var table = new TextTable("TTFT", "live server ms", "simulator ms", "difference");
        foreach (var p in new[] { 50.0, 95.0 })
        {
            table.Add($"p{p:F0}", F(Live(p)), F(Simulated(p)), (Error(p) * 100).ToString("F1", CultureInfo.InvariantCulture) + "%");
        }

        foreach (var p in new[] { 50.0, 95.0 })
        {
            var unscaled = PolicyRun.Percentile(UnscaledTtftMs, p);
            table.Add($"p{p:F0}, profile unscaled", "", F(unscaled), (Math.Abs(unscaled - Live(p)) / Live(p) * 100).ToString("F1", CultureInfo.InvariantCulture) + "%");
        }

        if (Calibration is { } calibration)
        {
            table.Add("under load", "", "", string.Create(CultureInfo.InvariantCulture,
                $"compute x{calibration.Compute:F2}, live swaps {string.Join(" / ", calibration.SwapMs.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Value.ToString("F1", CultureInfo.InvariantCulture)))} ms (calibration replay, {CalibrationTtftMs.Length} requests)"));
        }
        table.Add("requests", LiveTtftMs.Length.ToString(CultureInfo.InvariantCulture), SimulatedTtftMs.Length.ToString(CultureInfo.InvariantCulture),
            $"failed: {LiveFailed} live, {SimulatedFailed} simulated");
        table.Add($"within {Tolerance * 100:F0}%", Agrees ? "yes" : "no", "",
            $"load {LoadAverage}; decode speed drift {ProfileDrift * 100:F0}% before/after");
        return table;
    }

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("requests", LiveTtftMs.Length);
            json.WriteNumber("live_ttft_p50_ms", Round(Live(50)));
            json.WriteNumber("live_ttft_p95_ms", Round(Live(95)));
            json.WriteNumber("sim_ttft_p50_ms", Round(Simulated(50)));
            json.WriteNumber("sim_ttft_p95_ms", Round(Simulated(95)));
            json.WriteNumber("unscaled_sim_ttft_p50_ms", Round(PolicyRun.Percentile(UnscaledTtftMs, 50)));
            json.WriteNumber("unscaled_sim_ttft_p95_ms", Round(PolicyRun.Percentile(UnscaledTtftMs, 95)));
            json.WriteNumber("calibration_requests", CalibrationTtftMs.Length);
            json.WriteNumber("calibration_live_ttft_p50_ms", Round(PolicyRun.Percentile(CalibrationTtftMs, 50)));
            json.WriteNumber("calibration_live_ttft_p95_ms", Round(PolicyRun.Percentile(CalibrationTtftMs, 95)));
            if (Calibration is { } calibration)
            {
                json.WriteStartObject("under_load");
                json.WriteNumber("compute_factor", calibration.Compute);
                if (double.IsFinite(calibration.Error))
                {
                    json.WriteNumber("fit_error", Math.Round(calibration.Error, 4));
                }

                json.WriteStartObject("live_swap_ms");
                foreach (var (model, ms) in calibration.SwapMs.OrderBy(s => s.Key, StringComparer.Ordinal))
                {
                    json.WriteNumber(model, Round(ms));
                }

                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteNumber("p50_error", Math.Round(Error(50), 4));
            json.WriteNumber("p95_error", Math.Round(Error(95), 4));
            json.WriteNumber("tolerance", Tolerance);
            json.WriteBoolean("agrees", Agrees);
            json.WriteNumber("live_failed", LiveFailed);
            json.WriteNumber("sim_failed", SimulatedFailed);
            json.WriteNumber("budget_bytes", BudgetBytes);
            json.WriteString("load_average", LoadAverage);
            json.WriteNumber("profile_drift", Math.Round(ProfileDrift, 4));
            json.WriteNumber("dispatch_ms", Round(Profile.DispatchMs));
            // "profile" is what the simulation used (under load); "measured_profile" the micro-benchmarks' mean.
            WriteProfile(json, "profile", Profile);
            if (MeasuredProfile is { } measured)
            {
                WriteProfile(json, "measured_profile", measured);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteProfile(Utf8JsonWriter json, string name, SwapProfile profile)
    {
        json.WriteStartArray(name);
        foreach (var m in profile.Models)
        {
            json.WriteStartObject();
            json.WriteString("model", m.Model);
            json.WriteNumber("weight_bytes", m.WeightBytes);
            json.WriteNumber("restore_ms", Round(m.RestoreMs));
            json.WriteNumber("context_ms", Round(m.ContextMs));
            json.WriteNumber("evict_ms", Round(m.EvictMs));
            json.WriteNumber("prefill_tok_s", Round(m.PrefillTokensPerSecond));
            json.WriteNumber("prefill_fixed_ms", Round(m.PrefillFixedMs));
            json.WriteNumber("prefill_ms_per_token2", Math.Round(m.PrefillMsPerTokenSquared, 8));
            json.WriteNumber("decode_tok_s", Round(m.DecodeTokensPerSecond));
            json.WriteNumber("batch_slowdown_per_sequence", Math.Round(m.BatchSlowdownPerSequence, 4));
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static double Round(double value) => Math.Round(value, 1);

    private static string F(double value) => value.ToString("F1", CultureInfo.InvariantCulture);
}
