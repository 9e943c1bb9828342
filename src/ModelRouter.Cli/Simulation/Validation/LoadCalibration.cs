using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Simulation.Validation;

/// <summary>What a calibration replay measured and fitted: each model's swap as the live server did it, and one compute factor.</summary>
/// <param name="Compute">Factor on every prompt and decode step's time, fitted.</param>
/// <param name="SwapMs">Per model, the median of the pool's restores during the calibration replay (no context), ms; measured.</param>
/// <param name="Error">Mean |ln(simulated / live)| over <see cref="LoadCalibration.FitQuantiles"/> of TTFT on the calibration replay.</param>
internal sealed record LoadCalibrationResult(double Compute, IReadOnlyDictionary<string, double> SwapMs, double Error);

/// <summary>
/// Carries the live server's speed under a replay's load into the simulator, from a calibration replay: a trace of its own
/// (another seed of the same generator) replayed against the same live server right before the validation trace, which no
/// fit uses. The micro-benchmarked profile (<see cref="ProfileCalibration"/>) is measured with nothing else running;
/// during a replay, on this 2-core machine, steps and swaps share the cores with the server's own threads and eight
/// streaming clients, and docs/simulator.md (runs 12-16) measured the gap without finding one cause to remove: live
/// prefill 9-12 ms slower with no queue or swap, and restores of the largest model 12-103 ms live against 8-11 ms quiet.
/// So the swaps are taken as the live server timed them in the calibration replay (plus the context the calibration
/// measured, which live swaps under this budget also pay), and one factor on compute is fitted to the calibration
/// replay's whole TTFT distribution.
/// </summary>
internal static class LoadCalibration
{
    /// <summary>The TTFT quantiles the fit matches: the body and the tail of the distribution, not only p50 and p95.</summary>
    public static readonly double[] FitQuantiles = [10, 25, 50, 75, 90, 95];

    /// <summary>The compute factors tried: 0.5 to 3.0 by 0.02, each one simulation of the calibration trace.</summary>
    private static readonly double[] ComputeGrid = Enumerable.Range(0, 126).Select(i => Math.Round(0.5 + (i * 0.02), 4)).ToArray();

    /// <summary>
    /// The profile under load: each model with a measured live swap restores in that time plus its context, and every
    /// prompt and decode step takes <paramref name="compute"/> times as long. Evict, dispatch and weights are as measured.
    /// </summary>
    public static SwapProfile UnderLoad(SwapProfile profile, IReadOnlyDictionary<string, double> swapMs, double compute)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(swapMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(compute);
        var models = profile.Models.Select(m => m with
        {
            RestoreMs = swapMs.TryGetValue(m.Model, out var swap) ? swap + m.ContextMs : m.RestoreMs,
            PrefillTokensPerSecond = m.PrefillTokensPerSecond / compute,
            PrefillFixedMs = m.PrefillFixedMs * compute,
            PrefillMsPerTokenSquared = m.PrefillMsPerTokenSquared * compute,
            DecodeTokensPerSecond = m.DecodeTokensPerSecond / compute,
        }).ToList();
        return new SwapProfile(profile.Name, models) { DispatchMs = profile.DispatchMs };
    }

    /// <summary>
    /// Fits the compute factor on a calibration replay: <paramref name="trace"/> as the server served it, each request's
    /// live TTFT, and the pool's swap time for each request that waited for one (0 for none).
    /// </summary>
    public static LoadCalibrationResult Fit(SwapProfile profile, IReadOnlyList<TraceRequest> trace, IReadOnlyList<double> liveTtftMs,
        IReadOnlyList<double> liveSwapMs, long budgetBytes, SchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(liveTtftMs);
        ArgumentNullException.ThrowIfNull(liveSwapMs);
        if (trace.Count == 0 || trace.Count != liveTtftMs.Count || trace.Count != liveSwapMs.Count)
        {
            throw new ArgumentException("The calibration needs one live TTFT and swap time per request of a non-empty trace.", nameof(liveTtftMs));
        }

        var swaps = trace.Select((r, i) => (r.Model, Ms: liveSwapMs[i])).Where(s => s.Ms > 0).GroupBy(s => s.Model, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => PolicyRun.Percentile(g.Select(s => s.Ms), 50), StringComparer.Ordinal);
        var live = FitQuantiles.Select(q => PolicyRun.Percentile(liveTtftMs, q)).ToArray();
        var best = new LoadCalibrationResult(1, swaps, double.PositiveInfinity);
        foreach (var compute in ComputeGrid)
        {
            var run = SchedulerSimulation.Run(UnderLoad(profile, swaps, compute), trace, budgetBytes, options);
            var error = run.Failed > 0 ? double.PositiveInfinity : FitQuantiles.Select((q, i) => Math.Abs(Math.Log(run.Ttft(q) / live[i]))).Average();
            if (error < best.Error)
            {
                best = best with { Compute = compute, Error = error };
            }
        }

        return best;
    }
}
