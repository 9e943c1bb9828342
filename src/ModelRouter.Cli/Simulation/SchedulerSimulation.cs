using Microsoft.Extensions.Logging.Abstractions;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Simulation;

/// <summary>
/// The <c>modelrouter</c> policy: the real <see cref="Scheduler"/> and <see cref="ModelPool"/> on a <see cref="VirtualClock"/>,
/// with <see cref="SimulatedStore"/> for the weights and the cost model for decoding. Requests are submitted at their
/// arrival times; each submit and each clock event is followed by quiescence, so runs are deterministic. The same engine
/// runs several such boxes on one clock for the cluster's policies (<see cref="RunNodes"/>, <see cref="ClusterSimulation"/>).
/// </summary>
public static class SchedulerSimulation
{
    public const string Policy = "modelrouter";

    /// <param name="budgetBytes">Device memory for weights (the pool's budget).</param>
    /// <param name="progress">Called now and then with (requests done, total).</param>
    /// <param name="coalesceSteps">Run uninterruptible decode steps as one clock event (same timings; off only to check that).</param>
    public static PolicyRun Run(SwapProfile profile, IReadOnlyList<TraceRequest> trace, long budgetBytes, SchedulerOptions? options = null,
        Action<int, int>? progress = null, bool coalesceSteps = true) =>
        RunNodes(Policy, profile, trace, budgetBytes, options, nodeCount: 1, static (_, _, _) => 0, progress, coalesceSteps);

    /// <summary>
    /// Several boxes on one virtual clock, each with its own device, pool (every model in its host tier) and scheduler;
    /// <paramref name="place"/> names the node of each request at its arrival (given the nodes, the request's index and
    /// the request). Swaps and device time are summed over the nodes.
    /// </summary>
    internal static PolicyRun RunNodes(string policy, SwapProfile profile, IReadOnlyList<TraceRequest> trace, long budgetBytes, SchedulerOptions? options,
        int nodeCount, Func<IReadOnlyList<SimulatedNode>, int, TraceRequest, int> place, Action<int, int>? progress = null, bool coalesceSteps = true)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(place);
        ArgumentOutOfRangeException.ThrowIfLessThan(nodeCount, 1);
        using var clock = new VirtualClock();
        var sink = new TimingSink(clock, trace.Count, profile.DispatchMs);
        var schedulerOptions = (options ?? new SchedulerOptions()) with
        {
            MaxQueueWait = TimeSpan.FromDays(1),
            QueueCapacityPerModel = Math.Max(256, trace.Count),
        };
        var nodes = new List<SimulatedNode>(nodeCount);
        try
        {
            for (var n = 0; n < nodeCount; n++)
            {
                nodes.Add(new SimulatedNode(n, clock, profile, budgetBytes, schedulerOptions, coalesceSteps));
            }

            clock.WaitQuiescent();
            using var cancellation = new CancellationTokenSource();
            for (var i = 0; i < trace.Count; i++)
            {
                var request = trace[i];
                clock.AdvanceTo(request.Arrival);
                sink.Arrived[i] = clock.GetTimestamp();
                var generation = new GenerationRequest(new string('x', request.PromptTokens)) { MaxTokens = request.OutputTokens };
                var node = nodes[place(nodes, i, request)];
                if (!node.Scheduler.TrySubmit(new InferenceRequest((ulong)i, request.Model, generation, sink, cancellation.Token), out _, out var message))
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
            return new PolicyRun(policy, trace, sink.TtftMs, sink.EndToEndMs, nodes.Sum(n => n.Ledger.Restores),
                TimeSpan.FromTicks(nodes.Sum(n => n.Ledger.SwapTime.Ticks)), TimeSpan.FromTicks(nodes.Sum(n => n.Device.BusyTime.Ticks)), span, sink.FailedCount);
        }
        finally
        {
            foreach (var node in nodes)
            {
                node.Dispose();
            }
        }
    }

    /// <summary>One simulated box: its device, swap ledger, pool and the real scheduler over them.</summary>
    internal sealed class SimulatedNode : IDisposable
    {
        private readonly ServerMetrics metrics = new();

        public SimulatedNode(int index, VirtualClock clock, SwapProfile profile, long budgetBytes, SchedulerOptions options, bool coalesceSteps)
        {
            Index = index;
            Clock = clock;
            Device = new SimulatedDevice(clock);
            Stores = new SimulatedStoreFactory(profile, clock, Ledger);
            Pool = new ModelPool(new ModelPoolOptions
            {
                BudgetBytes = budgetBytes,
                StoreFactory = Stores,
                Time = clock,
            });
            foreach (var model in profile.Models)
            {
                Pool.Register(new ModelRegistration(model.Model, "/simulated/" + model.Model));
            }

            Scheduler = new Scheduler(Pool, profile.Models.Select(m => m.Model), options with { Runtime = new SimulatedRuntime(clock, profile, Device, coalesceSteps) },
                metrics, NullLogger<Scheduler>.Instance);
        }

        public int Index { get; }

        public VirtualClock Clock { get; }

        public SimulatedDevice Device { get; }

        /// <summary>The node's weight stores (their tiers), for the cluster's host placement.</summary>
        public SimulatedStoreFactory Stores { get; }

        public SwapLedger Ledger { get; } = new();

        public ModelPool Pool { get; }

        public Scheduler Scheduler { get; }

        public void Dispose()
        {
            Scheduler.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(30));
            Pool.Dispose();
            metrics.Dispose();
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
