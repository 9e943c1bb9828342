using System.CommandLine;
using System.Globalization;
using System.Text;
using ModelRouter.Cli.Simulation;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter simulate`: replays a trace against swap policies on virtual time: ours is the real Scheduler and
/// ModelPool on a virtual clock with a cost model; the others are models of llama-swap, Ollama and llama.cpp's router.
/// </summary>
internal static class SimulateCommand
{
    private const int UsageError = 2;

    public static Command Create()
    {
        var trace = new Option<string>("--trace") { Description = "'synthetic', or a trace CSV (arrival_ms,model,prompt_tokens,output_tokens,user; or Azure's TIMESTAMP,ContextTokens,GeneratedTokens).", DefaultValueFactory = _ => "synthetic" };
        var profile = new Option<string?>("--profile") { Description = "Swap profile: bench-swap's CSV, or a profile CSV (" + SwapProfile.ProfileHeader + "). Default: the built-in H100 estimate." };
        var models = new Option<int>("--models") { Description = "Models of the built-in profile (1-8B each).", DefaultValueFactory = _ => 6 };
        var requests = new Option<int>("--requests") { Description = "Requests of a synthetic trace.", DefaultValueFactory = _ => 1000 };
        var rate = new Option<double>("--rate") { Description = "Mean arrivals per second of a synthetic trace.", DefaultValueFactory = _ => 2 };
        var bursty = new Option<bool>("--bursty") { Description = "Bursty arrivals (on/off every 10 s) instead of Poisson." };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic trace.", DefaultValueFactory = _ => 42 };
        var budget = new Option<double?>("--budget-gb") { Description = "Device memory for weights in GB (default: 40% of all models' weights)." };
        var sweep = new Option<bool>("--sweep") { Description = "Also sweep the load (0.25x to 4x the rate) and the number of models (2, 4, 8): sweep.csv and p95_vs_load.svg." };
        var nodes = new Option<int>("--nodes") { Description = "Boxes in a cluster (issue 21): above 1, compares the cluster's placement policies instead (cluster-residency: our router on the residency directory; round-robin; static-partition), each node the real scheduler with the --budget-gb of its own.", DefaultValueFactory = _ => 1 };
        var hostModels = new Option<int>("--host-models") { Description = "With --nodes: each node's host tier holds this many models (the largest ones' bytes), placed by the cluster's host placement under every policy; a model a node does not hold is restored from its file. 0: every model on every node.", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Folder for summary.json, results.csv/.md, trace.csv and the SVG plots.", DefaultValueFactory = _ => Path.Combine("artifacts", "simulate") };
        var command = new Command("simulate", "Replay a request trace against swap policies (per-request-swap, serial-lru, llamacpp-router, modelrouter: our real scheduler on a virtual clock, lower-bound) and report TTFT and end-to-end percentiles, swaps and fairness.")
        {
            trace, profile, models, requests, rate, bursty, seed, budget, sweep, nodes, hostModels, output,
        };
        command.SetAction(parse =>
        {
            try
            {
                var swapProfile = parse.GetValue(profile) is { } file ? SwapProfile.Load(file) : SwapProfile.H100Estimate(parse.GetValue(models));
                var settings = new SimulationSettings
                {
                    Profile = swapProfile,
                    BudgetBytes = parse.GetValue(budget) is { } gb ? (long)(gb * 1e9) : null,
                };
                var names = swapProfile.Models.Select(m => m.Model).ToList();
                var synthetic = new SyntheticTraceOptions
                {
                    Requests = parse.GetValue(requests),
                    RatePerSecond = parse.GetValue(rate),
                    Bursty = parse.GetValue(bursty),
                    Seed = parse.GetValue(seed),
                };
                var traceName = parse.GetValue(trace)!;
                var requestsOfTrace = traceName == "synthetic" ? SyntheticTrace.Generate(names, synthetic) : TraceFile.Load(traceName, names);
                var dir = parse.GetValue(output)!;
                Directory.CreateDirectory(dir);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"profile {swapProfile.Name}: {names.Count} models, budget {settings.Budget / 1e9:F1} GB ({settings.MaxLoaded} fit); trace {traceName}: {requestsOfTrace.Count} requests"));
                foreach (var source in swapProfile.Models.SelectMany(m => m.Sources.Values).Distinct())
                {
                    Console.WriteLine("  figures from: " + source);
                }

                var nodeCount = parse.GetValue(nodes);
                if (nodeCount < 1)
                {
                    throw new ArgumentException($"--nodes must be at least 1 (got {nodeCount}).");
                }

                var hostModelCount = parse.GetValue(hostModels);
                if (hostModelCount < 0 || (hostModelCount > 0 && nodeCount == 1))
                {
                    throw new ArgumentException($"--host-models must be 0, or at least 1 with --nodes above 1 (got {hostModelCount}).");
                }

                var hostBudget = swapProfile.Models.Select(m => m.WeightBytes).OrderDescending().Take(hostModelCount).Sum();
                var runs = nodeCount == 1 ? SimulationRunner.RunAll(settings, requestsOfTrace, Console.Out) : RunCluster(settings, requestsOfTrace, nodeCount, hostBudget);
                TraceFile.Write(Path.Combine(dir, "trace.csv"), requestsOfTrace);
                var table = SimulationReport.Table(runs);
                File.WriteAllText(Path.Combine(dir, "summary.json"), SimulationReport.SummaryJson(runs));
                File.WriteAllText(Path.Combine(dir, "results.csv"), table.ToCsv());
                File.WriteAllText(Path.Combine(dir, "results.md"), table.ToMarkdown());
                File.WriteAllText(Path.Combine(dir, "ttft_cdf.svg"), SimulationReport.TtftCdfSvg(runs, $"TTFT CDF ({swapProfile.Name}, {requestsOfTrace.Count} requests)"));
                Console.WriteLine(table.ToText());
                if (parse.GetValue(sweep) && traceName == "synthetic")
                {
                    Sweep(settings, synthetic, parse.GetValue(profile) is null ? parse.GetValue(models) : 0, dir);
                }

                Console.WriteLine("wrote " + dir);
                return 0;
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return UsageError;
            }
        });
        return command;
    }

    /// <summary>Every cluster placement policy on the same trace, nodes and per-node budget.</summary>
    private static List<PolicyRun> RunCluster(SimulationSettings settings, IReadOnlyList<TraceRequest> trace, int nodes, long hostBudgetBytes)
    {
        if (hostBudgetBytes > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  host tiers of {hostBudgetBytes / 1e9:F1} GB per node, placed by the cluster"));
        }

        var runs = new List<PolicyRun>();
        foreach (var policy in ClusterSimulation.Policies)
        {
            var started = DateTime.UtcNow;
            var run = ClusterSimulation.Run(policy, settings.Profile, trace, nodes, settings.Budget, new SchedulerOptions { MaxBatchPerModel = settings.Slots },
                TimeSpan.FromMilliseconds(new ModelRouter.Cluster.ClusterSettings().PublishIntervalMs), hostBudgetBytes);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {policy} ({nodes} nodes): p95 TTFT {run.Ttft(95):F0} ms, {run.SwapsPerMinute:F1} swaps/min ({(DateTime.UtcNow - started).TotalSeconds:F1} s)"));
            runs.Add(run);
        }

        return runs;
    }

    private static void Sweep(SimulationSettings settings, SyntheticTraceOptions synthetic, int builtInModels, string dir)
    {
        var csv = new StringBuilder("models,rate_per_s,policy,ttft_p50_ms,ttft_p95_ms,ttft_p99_ms,swaps_per_min,swap_time_share\n");
        var byLoad = new List<(double, IReadOnlyList<PolicyRun>)>();
        int[] modelCounts = builtInModels > 0 ? [2, 4, 8] : [settings.Profile.Models.Count];
        foreach (var count in modelCounts)
        {
            var profileOf = builtInModels > 0 ? SwapProfile.H100Estimate(count) : settings.Profile;
            var runSettings = settings with { Profile = profileOf, BudgetBytes = settings.BudgetBytes };
            foreach (var factor in new[] { 0.25, 0.5, 1, 2, 4 })
            {
                var options = synthetic with { RatePerSecond = synthetic.RatePerSecond * factor, Requests = Math.Min(synthetic.Requests, 400) };
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sweep: {count} models, {options.RatePerSecond:G3} requests/s"));
                var runs = SimulationRunner.RunAll(runSettings, SyntheticTrace.Generate(profileOf.Models.Select(m => m.Model).ToList(), options));
                foreach (var r in runs)
                {
                    csv.Append(CultureInfo.InvariantCulture,
                        $"{count},{options.RatePerSecond:G4},{r.Policy},{r.Ttft(50):F1},{r.Ttft(95):F1},{r.Ttft(99):F1},{r.SwapsPerMinute:F3},{r.SwapTimeShare:F4}\n");
                }

                if (count == modelCounts[^1])
                {
                    byLoad.Add((options.RatePerSecond, runs));
                }
            }
        }

        File.WriteAllText(Path.Combine(dir, "sweep.csv"), csv.ToString());
        File.WriteAllText(Path.Combine(dir, "p95_vs_load.svg"), SimulationReport.P95VersusLoadSvg(byLoad, $"p95 TTFT vs load ({modelCounts[^1]} models)"));
    }
}
