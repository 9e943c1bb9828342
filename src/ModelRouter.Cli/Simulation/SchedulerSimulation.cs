using Microsoft.Extensions.Logging.Abstractions;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Simulation;

/// <summary>
/// The <c>modelrouter</c> policy: the real <see cref="Scheduler"/> and <see cref="ModelPool"/> on a <see cref="VirtualClock"/>,
/// with <see cref="SimulatedStore"/> for the weights and the cost model for decoding. Requests are submitted at their
/// arrival times; each submit and each clock event is followed by quiescence, so runs are deterministic.
/// </summary>
public static class SchedulerSimulation
{
    public const string Policy = "modelrouter";

    /// <param name="budgetBytes">Device memory for weights (the pool's budget).</param>
    /// <param name="progress">Called now and then with (requests done, total).</param>
    /// <param name="coalesceSteps">Run uninterruptible decode steps as one clock event (same timings; off only to check that).</param>
    public static PolicyRun Run(SwapProfile profile, IReadOnlyList<TraceRequest> trace, long budgetBytes, SchedulerOptions? options = null,
        Action<int, int>? progress = null, bool coalesceSteps = true)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(trace);
        using var clock = new VirtualClock();
        var device = new SimulatedDevice(clock);
        var ledger = new SwapLedger();
        var sink = new TimingSink(clock, trace.Count, profile.DispatchMs);
        var schedulerOptions = (options ?? new SchedulerOptions()) with
        {
            Runtime = new SimulatedRuntime(clock, profile, device, coalesceSteps),
            MaxQueueWait = TimeSpan.FromDays(1),
            QueueCapacityPerModel = Math.Max(256, trace.Count),
        };
        using var pool = new ModelPool(new ModelPoolOptions
        {
            BudgetBytes = budgetBytes,
            StoreFactory = new SimulatedStoreFactory(profile, clock, ledger),
            Time = clock,
        });
        foreach (var model in profile.Models)
        {
            pool.Register(new ModelRegistration(model.Model, "/simulated/" + model.Model));
        }

        using var metrics = new ServerMetrics();
        var scheduler = new Scheduler(pool, profile.Models.Select(m => m.Model), schedulerOptions, metrics, NullLogger<Scheduler>.Instance);
        try
        {
            clock.WaitQuiescent();
            using var cancellation = new CancellationTokenSource();
            for (var i = 0; i < trace.Count; i++)
            {
                var request = trace[i];
                clock.AdvanceTo(request.Arrival);
                sink.Arrived[i] = clock.GetTimestamp();
                var generation = new GenerationRequest(new string('x', request.PromptTokens)) { MaxTokens = request.OutputTokens };
                if (!scheduler.TrySubmit(new InferenceRequest((ulong)i, request.Model, generation, sink, cancellation.Token), out _, out var message))
                {
                    sink.OnFailed((ulong)i, RequestError.Overloaded, message);
                }

                if (i % 1000 == 0)
                {
                    progress?.Invoke(sink.Done, trace.Count);
                }
            }

            clock.EndOfInput();
            while (sink.Done < trace.Count && clock.AdvanceOne())
            {
                if (clock.EventsFired % 50_000 == 0)
                {
                    progress?.Invoke(sink.Done, trace.Count);
                }
            }

            progress?.Invoke(sink.Done, trace.Count);
            var span = clock.Now;
            return new PolicyRun(Policy, trace, sink.TtftMs, sink.EndToEndMs, ledger.Restores, ledger.SwapTime, device.BusyTime, span, sink.FailedCount);
        }
        finally
        {
            scheduler.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>Times each request on the virtual clock: first text, completion, failure.</summary>
    private sealed class TimingSink : IResponseSink
    {
        private readonly VirtualClock clock;
        private readonly double dispatchMs;
        private int done;
        private int failed;

        public TimingSink(VirtualClock clock, int count, double dispatchMs)
        {
            this.clock = clock;
            this.dispatchMs = dispatchMs;
            Arrived = new long[count];
            TtftMs = new double[count];
            EndToEndMs = new double[count];
            Array.Fill(TtftMs, double.NaN);
            Array.Fill(EndToEndMs, double.NaN);
        }

        public long[] Arrived { get; }

        public double[] TtftMs { get; }

        public double[] EndToEndMs { get; }

        public int Done => Volatile.Read(ref done);

        public int FailedCount => Volatile.Read(ref failed);

        public void OnText(ulong requestId, ReadOnlySpan<byte> utf8)
        {
            if (double.IsNaN(TtftMs[requestId]))
            {
                TtftMs[requestId] = Elapsed(requestId);
            }
        }

        public void OnCompleted(ulong requestId, CompletionStats stats)
        {
            EndToEndMs[requestId] = Elapsed(requestId);
            Interlocked.Increment(ref done);
        }

        public void OnFailed(ulong requestId, RequestError failure, string message)
        {
            Interlocked.Increment(ref failed);
            Interlocked.Increment(ref done);
        }

        private double Elapsed(ulong id) => clock.GetElapsedTime(Arrived[id]).TotalMilliseconds + dispatchMs;
    }
}
