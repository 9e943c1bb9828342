using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;

namespace ModelRouter.Server.Scheduling;

/// <summary>
/// What the scheduler's workers take from their surroundings: the clock, the batch decoder over a leased model, the
/// thread a lease is served on, and the one blocking wait (the linger). Production (<see cref="Default"/>) is the
/// system clock and llama.cpp; <c>modelrouter simulate</c> substitutes a virtual clock and a cost model, so the same
/// Scheduler and ModelWorker code runs in both.
/// </summary>
public class SchedulerRuntime
{
    public static SchedulerRuntime Default { get; } = new();

    /// <summary>Every timestamp, elapsed time, delay and timer of the scheduler and its workers.</summary>
    public virtual TimeProvider Time => TimeProvider.System;

    /// <summary>The decoder for one lease's batch (called on the serving thread, once per lease).</summary>
    public virtual IBatchDecoder CreateDecoder(ModelLease lease, ContextOptions options)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return new GeneratorDecoder(new BatchedGenerator(lease.GetContext(options)));
    }

    /// <summary>Runs a lease's synchronous serving loop on a thread of its own (decoding is blocking native work).</summary>
    public virtual Task<T> RunDedicated<T>(Func<T> work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Blocks the serving thread until <paramref name="task"/> completes or <paramref name="timeout"/> passes; true when it completed.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public virtual bool Wait(Task task, TimeSpan timeout, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(task);
        return task.Wait(timeout, cancellation);
    }
}
