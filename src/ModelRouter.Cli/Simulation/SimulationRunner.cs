using System.Globalization;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Simulation;

/// <summary>Settings of one `modelrouter simulate` run.</summary>
public sealed record SimulationSettings
{
    public required SwapProfile Profile { get; init; }

    /// <summary>
    /// Device memory for weights; null: 40% of all the profile's weights (not every model fits at once), and never less
    /// than the largest model (a model that can never load makes every request for it fail, which measures nothing).
    /// </summary>
    public long? BudgetBytes { get; init; }

    public int Slots { get; init; } = 8;

    public long Budget => BudgetBytes ?? Math.Max((long)(Profile.Models.Sum(m => m.WeightBytes) * 0.4), Profile.Models.Max(m => m.WeightBytes));

    /// <summary>How many models fit together by average size (the baselines' models-max), at least 1.</summary>
    public int MaxLoaded => Math.Max(1, (int)(Budget / Profile.Models.Average(m => (double)m.WeightBytes)));
}

/// <summary>Runs every policy on one trace: ours through the real scheduler, the others through their models.</summary>
public static class SimulationRunner
{
    public static readonly string[] Policies = ["per-request-swap", "serial-lru", "llamacpp-router", "modelrouter", "lower-bound"];

    public static IReadOnlyList<PolicyRun> RunAll(SimulationSettings settings, IReadOnlyList<TraceRequest> trace, TextWriter? progress = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(trace);
        var runs = new List<PolicyRun>();
        foreach (var policy in Policies)
        {
            var started = DateTime.UtcNow;
            var lastShown = started;
            PolicyRun run;
            if (policy == SchedulerSimulation.Policy)
            {
                run = SchedulerSimulation.Run(settings.Profile, trace, settings.Budget, new SchedulerOptions { MaxBatchPerModel = settings.Slots },
                    (done, total) =>
                    {
                        if (progress is not null && DateTime.UtcNow - lastShown > TimeSpan.FromSeconds(2))
                        {
                            lastShown = DateTime.UtcNow;
                            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {policy}: {done}/{total} requests done"));
                        }
                    });
            }
            else
            {
                run = BaselinePolicies.Run(policy, settings.Profile, trace, settings.MaxLoaded, settings.Slots);
            }

            progress?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {policy}: p95 TTFT {run.Ttft(95):F0} ms, {run.SwapsPerMinute:F1} swaps/min ({(DateTime.UtcNow - started).TotalSeconds:F1} s)"));
            runs.Add(run);
        }

        return runs;
    }
}
