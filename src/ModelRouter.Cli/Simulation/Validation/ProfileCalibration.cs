using System.Diagnostics;
using System.Globalization;
using ModelRouter.Cli.Demo;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Options;

namespace ModelRouter.Cli.Simulation.Validation;

/// <summary>
/// This machine's swap profile for the validation models, measured the way the live server pays each cost: restore =
/// the pool's restore plus the worker's context (what a lease costs after an evict), evict = the pool's evict, prefill =
/// one step that takes a whole prompt in, decode = one step alone and with every slot busy (the batch slowdown a CPU
/// has is far above a GPU's). Each figure is a median of several and is labelled "measured" with the machine's load.
/// </summary>
internal static class ProfileCalibration
{
    private const int Rounds = 5;
    // Prompt lengths the prefill fit is measured at: the validation trace's prompts run from 32 to 320 tokens.
    private static readonly int[] PrefillPromptTokens = [32, 128, 320];
    private const int DecodeSteps = 24;

    public static async Task<SwapProfile> MeasureAsync(IReadOnlyDictionary<string, string> paths, IReadOnlyList<DemoFootprint> footprints,
        SchedulerSettings scheduler, long budget, TextWriter progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(footprints);
        ArgumentNullException.ThrowIfNull(scheduler);
        var stores = WeightStores.ForThisBuild();
        // No prefix reuse: the same prompts are measured again and again, and the simulator models no KV cache.
        var context = DemoFootprints.GenerationContext(scheduler) with { PrefixCacheTokens = 0 };
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        var source = $"measured on this machine by validate-simulator ({Environment.ProcessorCount} cores, load {load})";
        var names = paths.Keys.Order(StringComparer.Ordinal).ToList();
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = long.MaxValue / 2, StoreFactory = stores });
        var evicts = names.ToDictionary(n => n, _ => new List<double>(), StringComparer.Ordinal);
        var firstLoadMs = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            pool.Register(new ModelRegistration(name, paths[name]));
            var started = Stopwatch.GetTimestamp();
            using var first = await pool.AcquireAsync(name, cancellation).ConfigureAwait(false);
            first.GetContext(context);
            firstLoadMs[name] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        // Restores as the live replay does them: in a pool of its own under the replay's budget (one model at a time),
        // so that each restore first makes room by evicting the model before it and lands where that one was. (Measured
        // in a pool that held all three, the largest model's restore took 16 ms where the live server's took 73-92:
        // docs/simulator.md, runs 8-9.) Round by round over every model, so that the other work on this machine weighs
        // on all of them alike; a first round loads each model from disk into the host tier and is not counted.
        var restores = names.ToDictionary(n => n, _ => new List<double>(), StringComparer.Ordinal);
        var contexts = names.ToDictionary(n => n, _ => new List<double>(), StringComparer.Ordinal);
        // The live server keeps evicted pages for its budget (KeepEvictedCpuPages): the swapping pool gets the same
        // allowance on top of what the first pool holds resident, which the process-wide limit counts too.
        var pagePool = CpuPagePool.Read();
        if (pagePool is { } held)
        {
            CpuPagePool.SetLimit(held.CommittedBytes + held.PooledBytes + budget);
        }

        try
        {
            using (var swapping = new ModelPool(new ModelPoolOptions { BudgetBytes = budget, StoreFactory = WeightStores.ForThisBuild() }))
            {
                foreach (var name in names)
                {
                    swapping.Register(new ModelRegistration(name, paths[name]));
                }

                swapping.Swapped += swap =>
                {
                    if (swap.Kind == PoolSwapKind.Evict)
                    {
                        lock (evicts)
                        {
                            evicts[swap.Model].Add(swap.Duration.TotalMilliseconds);
                        }
                    }
                };

                for (var round = -1; round < Rounds; round++)
                {
                    foreach (var name in names)
                    {
                        var started = Stopwatch.GetTimestamp();
                        using var lease = await swapping.AcquireAsync(name, cancellation).ConfigureAwait(false);
                        var restored = Stopwatch.GetTimestamp();
                        lease.GetContext(context);
                        if (round >= 0)
                        {
                            restores[name].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                            contexts[name].Add(Stopwatch.GetElapsedTime(restored).TotalMilliseconds);
                        }
                    }
                }
            }
        }
        finally
        {
            if (pagePool is { } before)
            {
                CpuPagePool.SetLimit(before.LimitBytes);
            }
        }

        var leases = new List<ModelLease>();
        var generators = new Dictionary<string, BatchedGenerator>(StringComparer.Ordinal);
        var prefill = names.ToDictionary(n => n, _ => PrefillPromptTokens.Select(_ => new List<double>()).ToArray(), StringComparer.Ordinal);
        var alone = names.ToDictionary(n => n, _ => new List<double>(), StringComparer.Ordinal);
        var full = names.ToDictionary(n => n, _ => new List<double>(), StringComparer.Ordinal);
        try
        {
            foreach (var name in names)
            {
                var lease = await pool.AcquireAsync(name, cancellation).ConfigureAwait(false);
                leases.Add(lease);
                generators[name] = new BatchedGenerator(lease.GetContext(context));
                MeasurePrefillMs(generators[name], PrefillPromptTokens[^1]); // a context's first decodes are slower (buffers, caches): not counted
            }

            for (var round = 0; round < Rounds; round++)
            {
                foreach (var name in names)
                {
                    cancellation.ThrowIfCancellationRequested();
                    for (var i = 0; i < PrefillPromptTokens.Length; i++)
                    {
                        prefill[name][i].Add(MeasurePrefillMs(generators[name], PrefillPromptTokens[i]));
                    }

                    alone[name].Add(MeasureStepMs(generators[name], 1));
                    full[name].Add(MeasureStepMs(generators[name], scheduler.MaxBatchPerModel));
                }
            }
        }
        finally
        {
            foreach (var generator in generators.Values)
            {
                generator.Dispose();
            }

            foreach (var lease in leases)
            {
                lease.Dispose();
            }
        }

        var costs = new List<ModelCost>();
        foreach (var name in names)
        {
            var (prefillFixedMs, prefillTokS, prefillSquared) = FitPrefill(prefill[name].Select(Median).ToArray());
            var aloneMs = Median(alone[name]);
            var fullMs = Median(full[name]);
            var slowdown = scheduler.MaxBatchPerModel > 1 ? Math.Max(0, ((fullMs / aloneMs) - 1) / (scheduler.MaxBatchPerModel - 1)) : 0;
            var cost = new ModelCost
            {
                Model = name,
                WeightBytes = footprints.Single(f => f.Name == name).WeightBytes,
                RestoreMs = Median(restores[name]),
                ContextMs = Median(contexts[name]),
                EvictMs = Median(evicts[name]),
                ReloadMs = firstLoadMs[name],
                PrefillTokensPerSecond = prefillTokS,
                PrefillFixedMs = prefillFixedMs,
                PrefillMsPerTokenSquared = prefillSquared,
                DecodeTokensPerSecond = 1000 / aloneMs,
                BatchSlowdownPerSequence = slowdown,
                Sources = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    [nameof(ModelCost.WeightBytes)] = "measured: the pool's loaded weights",
                    [nameof(ModelCost.RestoreMs)] = source,
                    [nameof(ModelCost.EvictMs)] = source,
                    [nameof(ModelCost.ReloadMs)] = source + " (first load)",
                    [nameof(ModelCost.PrefillTokensPerSecond)] = source,
                    [nameof(ModelCost.DecodeTokensPerSecond)] = source,
                },
            };
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[validate] {name}: weights {cost.WeightBytes / 1e6:F1} MB, restore {cost.RestoreMs:F1} ms (context {cost.ContextMs:F1}), evict {cost.EvictMs:F1} ms, prefill {cost.PrefillMs(PrefillPromptTokens[0]):F1} / {cost.PrefillMs(PrefillPromptTokens[1]):F1} / {cost.PrefillMs(PrefillPromptTokens[2]):F1} ms at {string.Join(" / ", PrefillPromptTokens)} tokens, decode {cost.DecodeTokensPerSecond:F1} tok/s, +{slowdown * 100:F0}% a step per extra sequence"));
            costs.Add(cost);
        }

        return new SwapProfile("this-machine (measured)", costs);
    }

    /// <summary>The mean of two measurements of the same model (before and after a replay).</summary>
    public static ModelCost Mean(ModelCost before, ModelCost after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        return before with
        {
            RestoreMs = (before.RestoreMs + after.RestoreMs) / 2,
            ContextMs = (before.ContextMs + after.ContextMs) / 2,
            EvictMs = (before.EvictMs + after.EvictMs) / 2,
            PrefillTokensPerSecond = 2 / (1 / before.PrefillTokensPerSecond + 1 / after.PrefillTokensPerSecond), // mean time per token
            PrefillFixedMs = (before.PrefillFixedMs + after.PrefillFixedMs) / 2,
            PrefillMsPerTokenSquared = (before.PrefillMsPerTokenSquared + after.PrefillMsPerTokenSquared) / 2,
            DecodeTokensPerSecond = (before.DecodeTokensPerSecond + after.DecodeTokensPerSecond) / 2,
            BatchSlowdownPerSequence = (before.BatchSlowdownPerSequence + after.BatchSlowdownPerSequence) / 2,
        };
    }

    /// <summary>Milliseconds of the step that takes a whole prompt of <paramref name="tokens"/> in (and samples its first token).</summary>
    private static double MeasurePrefillMs(BatchedGenerator generator, int tokens)
    {
        var sequence = generator.Start(new GenerationRequest(ValidationCatalog.Prompt(tokens)) { MaxTokens = 1 });
        var started = Stopwatch.GetTimestamp();
        while (!sequence.IsFinished)
        {
            generator.Step();
        }

        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    /// <summary>
    /// The prefill model t(n) = fixed + n / rate + squared·n² through the medians at <see cref="PrefillPromptTokens"/>
    /// (three points, three unknowns). A fit that comes out unphysical (noise: a negative rate or term) falls back to
    /// the straight line through the shortest and longest prompt, then to the longest prompt's mean rate alone.
    /// </summary>
    internal static (double FixedMs, double TokensPerSecond, double SquaredMs) FitPrefill(double[] ms)
    {
        double n0 = PrefillPromptTokens[0], n1 = PrefillPromptTokens[1], n2 = PrefillPromptTokens[2];
        // Divided differences of the quadratic through the three points.
        var d01 = (ms[1] - ms[0]) / (n1 - n0);
        var d12 = (ms[2] - ms[1]) / (n2 - n1);
        var squared = (d12 - d01) / (n2 - n0);
        var linear = d01 - squared * (n0 + n1);
        var fixedMs = ms[0] - linear * n0 - squared * n0 * n0;
        if (squared >= 0 && linear > 0 && fixedMs >= 0)
        {
            return (fixedMs, 1000 / linear, squared);
        }

        var slope = (ms[2] - ms[0]) / (n2 - n0);
        var intercept = ms[0] - slope * n0;
        return slope > 0 && intercept >= 0 ? (intercept, 1000 / slope, 0) : (0, n2 * 1000 / ms[2], 0);
    }

    /// <summary>Milliseconds of one decode step with <paramref name="sequences"/> generating (prompts already in).</summary>
    private static double MeasureStepMs(BatchedGenerator generator, int sequences)
    {
        var running = Enumerable.Range(0, sequences)
            .Select(i => generator.Start(new GenerationRequest(ValidationCatalog.Prompt(8 + i)) { MaxTokens = DecodeSteps + 2 }))
            .ToList();
        generator.Step(); // the prompts
        var steps = 0;
        var started = Stopwatch.GetTimestamp();
        while (steps < DecodeSteps && running.All(s => !s.IsFinished))
        {
            generator.Step();
            steps++;
        }

        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds / Math.Max(1, steps);
        while (running.Any(s => !s.IsFinished))
        {
            generator.Step();
        }

        return ms;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
