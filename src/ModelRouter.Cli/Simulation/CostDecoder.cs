using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Simulation;

/// <summary>
/// The one compute device of a simulation: decode steps of all models run on it one after another (a step that
/// asks while another runs starts when that one ends), so resident models share its time as they would a GPU.
/// </summary>
public sealed class SimulatedDevice(VirtualClock clock)
{
    private readonly Lock gate = new();
    private long busyUntil;
    private long busyTicks;

    /// <summary>Virtual time the device spent computing.</summary>
    public TimeSpan BusyTime
    {
        get
        {
            lock (gate)
            {
                return TimeSpan.FromTicks(busyTicks);
            }
        }
    }

    /// <summary>Occupies the device for <paramref name="duration"/> and blocks the caller (on virtual time) until it is done.</summary>
    public void Run(TimeSpan duration)
    {
        long end;
        lock (gate)
        {
            var start = Math.Max(clock.GetTimestamp(), busyUntil);
            end = start + duration.Ticks;
            busyUntil = end;
            busyTicks += duration.Ticks;
        }

        clock.Sleep(TimeSpan.FromTicks(end - clock.GetTimestamp()));
    }

    /// <summary>
    /// Runs up to <paramref name="maxSteps"/> steps of <paramref name="stepTicks"/> one after another, each queued on the
    /// device when the one before ends (as a thread that decodes step by step queues them, so other models' steps interleave
    /// the same way), and blocks the caller until the last; returns how many ran. The run stops after the step that ends
    /// at or after <paramref name="untilTimestamp"/> (when the caller's decisions may change with time alone) and after
    /// the first step that ends once an outside event has happened (anything the caller might decide on), so the caller
    /// wakes at every step boundary where it could decide otherwise than go on: the timings are step by step's.
    /// </summary>
    public long RunSteps(long stepTicks, long maxSteps, long untilTimestamp)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSteps, 1);
        var outside = clock.OutsideEvents;
        var ran = 0L;
        var queued = 1L;
        clock.SleepThrough(Queue(clock.GetTimestamp(), stepTicks, 1), (long ended, out bool wakesOutside) =>
        {
            ran += queued;
            wakesOutside = true;
            if (ran >= maxSteps || ended >= untilTimestamp)
            {
                return null; // a sequence finishes, or a decision is due: what the worker does next may concern the others
            }

            if (clock.OutsideEvents != outside)
            {
                // Cut by an event: the worker decides afresh, and goes on with the same sequences (none finished, none
                // failed; it may admit more or park one for another): nothing the other workers decide on changes (they
                // look at a worker's waiting requests only while it runs none), so this wake cuts no other chain. When
                // it did, two chains cut each other at every step, each wake a thread hand-off.
                wakesOutside = false;
                return null;
            }

            // Steps that all end before anything else can happen in the simulation (the next event, the driver's next
            // input) and before the caller's next decision are one event: nothing could tell them apart.
            queued = Math.Clamp(StepsBefore(ended, Math.Min(clock.QuietUntil, untilTimestamp), stepTicks), 1, maxSteps - ran);
            return Queue(ended, stepTicks, queued);
        });
        return ran;
    }

    /// <summary>Queues <paramref name="steps"/> steps asked for at <paramref name="asked"/>; returns when the last ends.</summary>
    private long Queue(long asked, long stepTicks, long steps)
    {
        lock (gate)
        {
            busyUntil = Math.Max(asked, busyUntil) + stepTicks * steps;
            busyTicks += stepTicks * steps;
            return busyUntil;
        }
    }

    /// <summary>Whole steps asked for at <paramref name="asked"/> that end strictly before <paramref name="limit"/>.</summary>
    private long StepsBefore(long asked, long limit, long stepTicks)
    {
        lock (gate)
        {
            var start = Math.Max(asked, busyUntil);
            return limit <= start ? 0 : (limit - start - 1) / stepTicks; // strictly before: ties keep their order
        }
    }
}

/// <summary>
/// A batch decoder that decodes nothing: each step costs the profile's prefill time for the prompt tokens it takes
/// (up to the batch size) plus one decode step for the generating sequences, spent on the <see cref="SimulatedDevice"/>,
/// and every generating sequence gets one token (one byte of text). A prompt's token count is its length in chars.
/// With <paramref name="coalesce"/>, a run of pure decode steps (no prompt to take in, no sequence finishing before its
/// end, no worker decision due) is one wait of the serving thread: the device queues step after step for it, interleaved
/// with other models' steps, until one ends after an outside event (<see cref="SimulatedDevice.RunSteps"/>). The same
/// timings as step by step, at a fraction of the thread hand-offs (what lets a million requests run in a minute).
/// </summary>
internal sealed class CostDecoder(ModelCost cost, SimulatedDevice device, int maxSequences, int batchSize, bool coalesce)
    : IBatchDecoder
{
    private const int MaxCoalescedSteps = 4096;
    private static readonly byte[] Tokens = CreateTokens();
    private readonly CostSequence?[] slots = new CostSequence?[maxSequences];
    private int active;

    public bool HasFreeSlot => active < slots.Length;

    public bool CoalescesSteps => coalesce;

    public void DecodeSteps(int maxTokens, long untilTimestamp)
    {
        var generating = 0;
        var fewestLeft = int.MaxValue;
        foreach (var s in slots)
        {
            if (s is null)
            {
                continue;
            }

            if (s.PendingPrompt > 0 || s.Cancellation.IsCancellationRequested)
            {
                DecodeStep(); // a prompt to take in or a cancellation: one step at a time, as ever
                return;
            }

            generating++;
            fewestLeft = Math.Min(fewestLeft, s.MaxTokens - s.GeneratedTokenCount);
        }

        if (generating == 0)
        {
            return;
        }

        var stepTicks = TimeSpan.FromMilliseconds(cost.PrefillMs(0) + cost.DecodeStepMs(generating)).Ticks;
        var steps = device.RunSteps(stepTicks, Math.Max(1, Math.Min(Math.Min(maxTokens, fewestLeft), MaxCoalescedSteps)), untilTimestamp);
        foreach (var s in slots)
        {
            if (s is null)
            {
                continue;
            }

            s.GeneratedTokenCount += (int)steps;
            s.NewTextLength = (int)steps;
            if (s.GeneratedTokenCount >= s.MaxTokens)
            {
                Finish(s, FinishReason.MaxTokens);
            }
        }
    }

    public IDecodingSequence Start(GenerationRequest request, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.MaxTokens < 1)
        {
            throw new ArgumentException("MaxTokens must be at least 1.", nameof(request));
        }

        var sequence = new CostSequence(request.Prompt.Length, request.MaxTokens, cancellation);
        Place(sequence);
        return sequence;
    }

    public void DecodeStep()
    {
        var room = batchSize;
        var generating = 0;
        var prefill = 0;
        foreach (var s in slots)
        {
            if (s is null)
            {
                continue;
            }

            s.NewTextLength = 0;
            if (s.Cancellation.IsCancellationRequested)
            {
                Finish(s, FinishReason.Cancelled);
            }
            else if (s.PendingPrompt == 0)
            {
                generating++;
                room--;
            }
        }

        foreach (var s in slots)
        {
            if (s is { PendingPrompt: > 0 } && room > 0)
            {
                var take = Math.Min(room, s.PendingPrompt);
                s.PendingPrompt -= take;
                s.JustFilled = s.PendingPrompt == 0;
                prefill += take;
                room -= take;
            }
        }

        if (prefill + generating == 0)
        {
            return;
        }

        device.Run(TimeSpan.FromMilliseconds(cost.PrefillMs(prefill) + cost.DecodeStepMs(generating)));
        foreach (var s in slots)
        {
            if (s is null || s.PendingPrompt > 0)
            {
                continue;
            }

            if (s.JustFilled && s.Resumed)
            {
                s.JustFilled = false; // a replay ends where it stopped: its next token comes from the next step
                s.Resumed = false;
                continue;
            }

            s.JustFilled = false;
            s.GeneratedTokenCount++;
            s.NewTextLength = 1;
            if (s.GeneratedTokenCount >= s.MaxTokens)
            {
                Finish(s, FinishReason.MaxTokens);
            }
        }
    }

    public void Park(IDecodingSequence sequence)
    {
        var s = (CostSequence)sequence;
        if (s.Slot < 0 || !s.CanPark)
        {
            throw new InvalidOperationException("Only a sequence that is generating in this decoder can be parked.");
        }

        slots[s.Slot] = null;
        s.Slot = -1;
        active--;
    }

    public void Unpark(IDecodingSequence sequence)
    {
        var s = (CostSequence)sequence;
        if (s.Slot >= 0 || s.IsFinished)
        {
            throw new InvalidOperationException("Only a parked sequence can resume.");
        }

        s.PendingPrompt = s.PromptTokenCount + s.GeneratedTokenCount; // the replay of everything it had decoded
        s.Resumed = true;
        Place(s);
    }

    public void Dispose()
    {
        foreach (var s in slots)
        {
            if (s is not null)
            {
                Finish(s, FinishReason.Cancelled);
            }
        }
    }

    private static byte[] CreateTokens()
    {
        var tokens = new byte[MaxCoalescedSteps];
        tokens.AsSpan().Fill((byte)'x');
        return tokens;
    }

    private void Place(CostSequence sequence)
    {
        var slot = Array.IndexOf(slots, null);
        if (slot < 0)
        {
            throw new InvalidOperationException($"All {slots.Length} sequences are busy.");
        }

        slots[slot] = sequence;
        sequence.Slot = slot;
        active++;
    }

    private void Finish(CostSequence s, FinishReason reason)
    {
        s.FinishReason = reason;
        slots[s.Slot] = null;
        s.Slot = -1;
        active--;
    }

    private sealed class CostSequence(int promptTokens, int maxTokens, CancellationToken cancellation) : IDecodingSequence
    {
        public int Slot { get; set; } = -1;

        public int MaxTokens { get; } = maxTokens;

        public CancellationToken Cancellation { get; } = cancellation;

        public int PendingPrompt { get; set; } = promptTokens;

        public bool JustFilled { get; set; }

        public bool Resumed { get; set; }

        public int NewTextLength { get; set; }

        public int PromptTokenCount { get; } = promptTokens;

        public int GeneratedTokenCount { get; set; }

        public FinishReason? FinishReason { get; set; }

        public bool IsFinished => FinishReason is not null;

        public bool CanPark => Slot >= 0 && !IsFinished && PendingPrompt == 0 && GeneratedTokenCount > 0;

        public ReadOnlySpan<byte> NewText => Tokens.AsSpan(0, NewTextLength);

        public TimeSpan? TimeToFirstToken => null; // the simulator times requests through its sink, on virtual time

        public double DecodeTokensPerSecond => 0;

        public void Abandon(FinishReason reason)
        {
            if (Slot < 0 && !IsFinished)
            {
                FinishReason = reason;
            }
        }
    }
}

/// <summary>The simulator's <see cref="SchedulerRuntime"/>: virtual clock, cost-model decoders, threads the clock can see.</summary>
internal sealed class SimulatedRuntime(VirtualClock clock, SwapProfile profile, SimulatedDevice device, bool coalesceSteps = true) : SchedulerRuntime
{
    public override TimeProvider Time => clock;

    public override IBatchDecoder CreateDecoder(ModelLease lease, ContextOptions options)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(options);
        var cost = profile.Models.First(m => m.Model == lease.Name);
        return new CostDecoder(cost, device, options.MaxSequences, options.BatchSize, coalesceSteps);
    }

    public override Task<T> RunDedicated<T>(Func<T> work)
    {
        // The worker's continuation runs on the serving thread, inside SetResult, as it does on production's dedicated
        // thread (a task's await continuation runs where the task completes); the clock counts the thread as running
        // until its body returns. Queued to the thread pool instead, it cost a hand-off per lease.
        var done = new TaskCompletionSource<T>();
        clock.StartServingThread(() =>
        {
            try
            {
                done.SetResult(work());
            }
#pragma warning disable CA1031 // handed to the awaiting worker exactly as Task.Factory.StartNew would
            catch (Exception ex)
#pragma warning restore CA1031
            {
                done.SetException(ex);
            }
        }, "simulated serving");
        return done.Task;
    }

    public override bool Wait(Task task, TimeSpan timeout, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(task);
        clock.Park(Task.WhenAny(task, Task.Delay(timeout, clock, cancellation)));
        cancellation.ThrowIfCancellationRequested();
        return task.IsCompleted;
    }
}
