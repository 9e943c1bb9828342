using Microsoft.Extensions.Logging;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;

namespace ModelRouter.Server.Scheduling;

/// <summary>
/// The swap-aware scheduler: one bounded queue and worker per model over a shared <see cref="ModelPool"/>. Resident
/// models serve at once; a model that must be swapped in gathers its waiting requests while the pool makes room;
/// a resident model keeps the device for at least MinResidency (hysteresis) and gives it up once another model's
/// request has waited MaxWait (no starvation); models with requests in flight are never swapped out (their lease).
/// </summary>
public sealed class Scheduler : IAsyncDisposable
{
    private readonly Dictionary<string, ModelWorker> workers;
    private readonly SchedulerOptions options;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly CancellationTokenSource stopping = new();
    private readonly ITimer deadlineTimer;
    private readonly Lock deadlineGate = new();
    private long deadlineDue = long.MaxValue; // when the deadline timer fires, on the scheduler's clock; MaxValue: unarmed
    private volatile bool accepting = true;
    private TaskCompletionSource leaseTaken = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int disposed;

    public Scheduler(ModelPool pool, IEnumerable<string> models, SchedulerOptions options, ServerMetrics metrics, ILogger<Scheduler> logger)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        this.logger = logger;
        time = options.Runtime.Time;
        workers = models.ToDictionary(m => m, m => new ModelWorker(m, pool, this, options, metrics, logger), StringComparer.Ordinal);
        foreach (var worker in workers.Values)
        {
            worker.Start(stopping.Token);
        }

        deadlineTimer = time.CreateTimer(static state => ((Scheduler)state!).SweepDeadlines(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public IEnumerable<string> Models => workers.Keys;

    /// <summary>Queues a request for its model; false with the reason when it is refused (unknown, overloaded, stopping).</summary>
    public bool TrySubmit(ScheduledWork request, out RequestError error, out string message)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!accepting)
        {
            (error, message) = (RequestError.ShuttingDown, "the server is shutting down");
            return false;
        }

        if (!workers.TryGetValue(request.Model, out var worker))
        {
            (error, message) = (RequestError.UnknownModel, $"no model named '{request.Model}' (models: {string.Join(", ", workers.Keys.Order(StringComparer.Ordinal))})");
            return false;
        }

        request.EnqueuedTimestamp = time.GetTimestamp(); // on the scheduler's clock (virtual in the simulator)
        if (!worker.TryEnqueue(request))
        {
            ServerLog.Overloaded(logger, request.Model, options.QueueCapacityPerModel);
            (error, message) = (RequestError.Overloaded, $"model '{request.Model}' has {options.QueueCapacityPerModel} requests waiting (overload policy: {options.Overload})");
            return false;
        }

        ArmDeadlineSweep(SchedulerTime.After(time, request.EnqueuedTimestamp, options.MaxQueueWait));
        (error, message) = (default, "");
        return true;
    }

    /// <summary>Requests waiting and sequences running, per model.</summary>
    public IReadOnlyDictionary<string, (int Waiting, int Active)> Load() =>
        workers.ToDictionary(w => w.Key, w => (w.Value.Waiting, w.Value.Active), StringComparer.Ordinal);

    /// <summary>Estimated queue wait for a new request to <paramref name="model"/> (for the latency policy).</summary>
    public int WaitingFor(string model) => workers.TryGetValue(model, out var worker) ? worker.Waiting + worker.Active : 0;

    /// <summary>Requests accepted for <paramref name="model"/> since the scheduler started (0 for an unknown model).</summary>
    public long AcceptedFor(string model) => workers.TryGetValue(model, out var worker) ? worker.Accepted : 0;

    /// <summary>Stops accepting, lets every accepted request finish, then stops the workers.</summary>
    public async Task DrainAsync(CancellationToken cancellation)
    {
        accepting = false;
        var drained = Task.WhenAll(workers.Values.Select(w => w.DrainAsync()));
        try
        {
            await drained.WaitAsync(cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time: every worker fails what it still holds (queued, running, parked) as shutting down.
            await stopping.CancelAsync().ConfigureAwait(false);
            await drained.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        await DrainAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        await stopping.CancelAsync().ConfigureAwait(false); // the workers may have drained in time; no sweep from here on
        await deadlineTimer.DisposeAsync().ConfigureAwait(false);
        stopping.Dispose();
    }

    /// <summary>
    /// Arms the deadline sweep for <paramref name="due"/> unless it is armed for that time or earlier. A request queued
    /// later has a later deadline than every one waiting, so in a busy server this is one read and no lock.
    /// </summary>
    private void ArmDeadlineSweep(long due)
    {
        if (Volatile.Read(ref deadlineDue) <= due || due == long.MaxValue)
        {
            return;
        }

        lock (deadlineGate)
        {
            if (due >= deadlineDue || stopping.IsCancellationRequested)
            {
                return;
            }

            deadlineDue = due;
            var delay = Math.Max(0, due - time.GetTimestamp());
            deadlineTimer.Change(TimeSpan.FromSeconds(delay / (double)time.TimestampFrequency), Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Every queued request has a deadline: a worker fails expired ones when it admits, and this sweep fails those of
    /// a model that is not being served at all (waiting for room on the device), so none waits forever. It runs when
    /// the oldest waiting request's deadline comes, not on a period: no work while nothing can expire, and on the
    /// simulator's virtual clock no event that cuts a run of coalesced decode steps (issue 18's scale).
    /// </summary>
    private void SweepDeadlines()
    {
        lock (deadlineGate)
        {
            deadlineDue = long.MaxValue; // a request queued from here on arms the timer itself
        }

        if (stopping.IsCancellationRequested)
        {
            return; // stopping: the workers fail what is left
        }

        var next = long.MaxValue;
        foreach (var worker in workers.Values)
        {
            worker.ExpireWaiting();
            if (worker.TryPeekOldestWaiting(out var enqueued))
            {
                next = Math.Min(next, SchedulerTime.After(time, enqueued, options.MaxQueueWait));
            }
        }

        ArmDeadlineSweep(next);
    }

    /// <summary>True when <paramref name="self"/> has had the device long enough and another model's request waited too long.</summary>
    /// <summary>A worker has just taken its model's lease (wakes <see cref="WaitWhileOthersStarveAsync"/>).</summary>
    internal void LeaseTaken() => Interlocked.Exchange(ref leaseTaken, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>
    /// After <paramref name="self"/> yielded: waits until no other model starves (each one that did has taken its lease or
    /// has nothing left waiting), at most <see cref="SchedulerOptions.MaxWait"/>, so that a yield hands the device over
    /// instead of the yielding worker leasing its still-resident model again at once.
    /// </summary>
    internal async Task WaitWhileOthersStarveAsync(ModelWorker self, CancellationToken cancellation)
    {
        var deadline = SchedulerTime.After(time, time.GetTimestamp(), options.MaxWait);
        while (true)
        {
            var next = Volatile.Read(ref leaseTaken).Task; // read before the check: a lease taken after it completes this
            var remaining = deadline - time.GetTimestamp();
            if (!AnyStarving(self) || remaining <= 0)
            {
                return;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            // Whole milliseconds, rounded up: Task.Delay counts in whole milliseconds, so a wait under one would complete at
            // once, and on the simulator's clock (which moves only when nothing runs) this loop would spin for ever.
            var delay = Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(remaining * 1000.0 / time.TimestampFrequency)), time, timeout.Token);
            await Task.WhenAny(next, delay).ConfigureAwait(false);
            await timeout.CancelAsync().ConfigureAwait(false);
            cancellation.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Whether a model other than <paramref name="self"/> has waited past MaxWait without being served at all.</summary>
    private bool AnyStarving(ModelWorker self)
    {
        foreach (var worker in workers.Values)
        {
            if (!ReferenceEquals(worker, self) && worker.Active == 0 && !worker.HoldsLease && worker.OldestWaitingTimestamp is var oldest
                && oldest != 0 && time.GetElapsedTime(oldest) >= options.MaxWait)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// No earlier than the first timestamp at which <see cref="ShouldYield"/> could turn true for <paramref name="self"/>
    /// while the other workers stay as they are (they change only when they run, which ends any coalesced steps anyway).
    /// </summary>
    internal long NextYieldCheckTimestamp(ModelWorker self, long residentSinceTimestamp)
    {
        var settled = SchedulerTime.After(time, residentSinceTimestamp, options.MinResidency);
        if (time.GetTimestamp() < settled)
        {
            return settled;
        }

        var next = long.MaxValue;
        foreach (var worker in workers.Values)
        {
            if (!ReferenceEquals(worker, self) && worker.Active == 0 && worker.OldestWaitingTimestamp is var oldest && oldest != 0)
            {
                next = Math.Min(next, SchedulerTime.After(time, oldest, options.MaxWait));
            }
        }

        return next;
    }

    internal bool ShouldYield(ModelWorker self, long residentSinceTimestamp)
    {
        if (time.GetElapsedTime(residentSinceTimestamp) < options.MinResidency)
        {
            return false;
        }

        foreach (var worker in workers.Values)
        {
            // Only a model that is not being served at all counts as starving (one that fits beside us is running).
            if (!ReferenceEquals(worker, self) && worker.Active == 0 && worker.OldestWaitingTimestamp is var oldest && oldest != 0
                && time.GetElapsedTime(oldest) >= options.MaxWait)
            {
                return true;
            }
        }

        return false;
    }
}
