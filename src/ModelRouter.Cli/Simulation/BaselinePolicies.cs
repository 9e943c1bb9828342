namespace ModelRouter.Cli.Simulation;

/// <summary>
/// Models of the systems we compare against, on the same trace and costs. These are not our scheduler (that one runs
/// for real in <see cref="SchedulerSimulation"/>) but small event models of other servers' documented behaviour:
/// a loaded model serves up to <c>slots</c> requests at once, each at batch-1 decode speed (optimistic for them: no
/// batch slowdown, no contention between loaded models); loading a model costs the profile's reload from the page cache.
/// </summary>
public static class BaselinePolicies
{
    public static readonly string[] Names = ["per-request-swap", "serial-lru", "llamacpp-router", "lower-bound"];

    /// <param name="maxLoaded">Models that fit the budget together (llama.cpp's --models-max, Ollama's loaded models).</param>
    public static PolicyRun Run(string policy, SwapProfile profile, IReadOnlyList<TraceRequest> trace, int maxLoaded, int slots)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(trace);
        return policy switch
        {
            // llama-swap: one model at a time, requests in arrival order, a request for another model waits for the
            // loaded one to finish everything it runs, then the swap.
            "per-request-swap" => Serve(policy, profile, trace, maxLoaded: 1, slots, globalFifo: true, keepAlive: null),
            // Ollama: several models as memory allows, kept 5 minutes after use; a load waits for the LRU model to be idle;
            // the queue is served in order (a waiting load holds up requests behind it).
            "serial-lru" => Serve(policy, profile, trace, maxLoaded, slots, globalFifo: true, keepAlive: TimeSpan.FromMinutes(5)),
            // llama.cpp router mode: --models-max LRU, reload from the page cache, each model's requests queued on their own.
            "llamacpp-router" => Serve(policy, profile, trace, maxLoaded, slots, globalFifo: false, keepAlive: null),
            "lower-bound" => LowerBound(profile, trace),
            _ => throw new ArgumentException($"unknown policy '{policy}' (policies: {string.Join(", ", Names)})", nameof(policy)),
        };
    }

    /// <summary>
    /// The stated bound: every request runs at once on its resident model, alone (no queueing, no swap, no batch
    /// slowdown): TTFT = its prefill, end-to-end = prefill + its decode steps. No policy on these costs does better.
    /// </summary>
    private static PolicyRun LowerBound(SwapProfile profile, IReadOnlyList<TraceRequest> trace)
    {
        var ttft = new double[trace.Count];
        var e2e = new double[trace.Count];
        var busy = 0.0;
        var end = 0.0;
        for (var i = 0; i < trace.Count; i++)
        {
            var cost = CostOf(profile, trace[i].Model);
            ttft[i] = cost.PrefillMs(trace[i].PromptTokens);
            e2e[i] = ttft[i] + (trace[i].OutputTokens - 1) * cost.DecodeStepMs(1);
            busy += e2e[i];
            end = Math.Max(end, trace[i].Arrival.TotalMilliseconds + e2e[i]);
        }

        return new PolicyRun("lower-bound", trace, ttft, e2e, 0, TimeSpan.Zero, TimeSpan.FromMilliseconds(Math.Min(busy, end)), TimeSpan.FromMilliseconds(end), 0);
    }

    private static PolicyRun Serve(string policy, SwapProfile profile, IReadOnlyList<TraceRequest> trace, int maxLoaded, int slots, bool globalFifo, TimeSpan? keepAlive)
    {
        var ttft = new double[trace.Count];
        var e2e = new double[trace.Count];
        var loaded = new Dictionary<string, Loaded>(StringComparer.Ordinal);
        var lastStart = 0.0;
        long swaps = 0;
        double swapMs = 0, busyMs = 0, end = 0;
        for (var i = 0; i < trace.Count; i++)
        {
            var r = trace[i];
            var cost = CostOf(profile, r.Model);
            var arrival = r.Arrival.TotalMilliseconds;
            var ready = globalFifo ? Math.Max(arrival, lastStart) : arrival;
            if (keepAlive is { } alive)
            {
                foreach (var expired in loaded.Where(m => m.Value.IdleAt + alive.TotalMilliseconds < ready && m.Key != r.Model).Select(m => m.Key).ToList())
                {
                    loaded.Remove(expired);
                }
            }

            if (!loaded.TryGetValue(r.Model, out var model))
            {
                while (loaded.Count >= maxLoaded)
                {
                    var victim = loaded.MinBy(m => m.Value.LastUsed);
                    ready = Math.Max(ready, victim.Value.IdleAt); // it cannot go while it serves
                    loaded.Remove(victim.Key);
                }

                swaps++;
                swapMs += cost.ReloadMs;
                ready += cost.ReloadMs;
                model = new Loaded(slots) { IdleAt = ready };
                Array.Fill(model.SlotFreeAt, ready);
                loaded[r.Model] = model;
            }

            // The earliest free slot of its model.
            var slot = 0;
            for (var s = 1; s < slots; s++)
            {
                if (model.SlotFreeAt[s] < model.SlotFreeAt[slot])
                {
                    slot = s;
                }
            }

            var start = Math.Max(ready, model.SlotFreeAt[slot]);
            var first = start + cost.PrefillMs(r.PromptTokens);
            var finish = first + (r.OutputTokens - 1) * cost.DecodeStepMs(1);
            model.SlotFreeAt[slot] = finish;
            model.IdleAt = Math.Max(model.IdleAt, finish);
            model.LastUsed = start;
            lastStart = start;
            ttft[i] = first - arrival;
            e2e[i] = finish - arrival;
            busyMs += finish - start;
            end = Math.Max(end, finish);
        }

        return new PolicyRun(policy, trace, ttft, e2e, swaps, TimeSpan.FromMilliseconds(swapMs),
            TimeSpan.FromMilliseconds(Math.Min(busyMs, Math.Max(0, end - swapMs))), TimeSpan.FromMilliseconds(end), 0);
    }

    private static ModelCost CostOf(SwapProfile profile, string model) =>
        profile.Models.FirstOrDefault(m => m.Model == model) ?? throw new ArgumentException($"the trace names model '{model}', which the swap profile lacks");

    private sealed class Loaded(int slots)
    {
        public double[] SlotFreeAt { get; } = new double[slots];

        public double IdleAt { get; set; }

        public double LastUsed { get; set; }
    }
}
