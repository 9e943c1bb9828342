namespace ModelRouter.Cli.Simulation;

/// <summary>
/// A discrete-event clock for running the real scheduler on virtual time. Time stands still while any simulated
/// thread runs; the driver advances it to the next due event only once the process is quiescent: every thread that
/// serves a lease is parked in this clock (a timed sleep or a wait), no thread-pool thread is busy other than those
/// parked here, and nothing is queued to the pool. A thread is marked running again by whoever wakes it, before it
/// is woken, so there is no window in which a woken thread looks parked. Events due at the same instant fire one at
/// a time in the order they were scheduled, each followed by quiescence, so a run is deterministic.
/// </summary>
/// <remarks>
/// Limits: the process must not run other thread-pool work meanwhile (the simulator owns it; tests run alone), and
/// any wait that is not through this clock, a serving thread or the thread pool would be invisible to it.
/// </remarks>
public sealed class VirtualClock : TimeProvider, IDisposable
{
    private static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly Lock gate = new();
    private readonly PriorityQueue<Event, (long Due, long Order)> events = new();
    private readonly Dictionary<Thread, bool> serving = []; // serving thread → parked
    private readonly Stack<ServingThread> idle = new(); // serving threads between leases: not counted, waiting for a body
    private bool disposed;
    private int runningServing; // serving threads not parked here; guarded by the gate
    private readonly ManualResetEventSlim servingParked = new(true); // set while runningServing is 0
    private long now;
    private long order;
    private int parkedPoolThreads;
    private long outsideEvents; // see OutsideEvents; written under the gate
    private long inputHorizon; // no input from the driver (its next submit) before this; see QuietUntil

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Volatile.Read(ref now);

    public override DateTimeOffset GetUtcNow() => Epoch.AddTicks(GetTimestamp());

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <summary>Virtual time since the start.</summary>
    public TimeSpan Now => TimeSpan.FromTicks(GetTimestamp());

    /// <summary>Events fired so far (sleeps ended and timer callbacks).</summary>
    public long EventsFired { get; private set; }

    /// <summary>When the next event is due; null when none is scheduled.</summary>
    public TimeSpan? NextDue
    {
        get
        {
            lock (gate)
            {
                DropStaleTimers();
                return events.TryPeek(out _, out var key) ? TimeSpan.FromTicks(key.Due) : null;
            }
        }
    }

    /// <summary>
    /// Outside events so far: every event but the steps of <see cref="SleepThrough"/>, and every input of the driver
    /// (<see cref="AdvanceTo"/>). A chain of steps that sees this unchanged knows that nothing its thread would decide
    /// on has changed since it parked.
    /// </summary>
    internal long OutsideEvents => Volatile.Read(ref outsideEvents);

    /// <summary>
    /// Until when nothing can happen in the simulation but what runs now: the next scheduled event and the driver's next
    /// input (<see cref="AdvanceTo"/>'s target; unbounded after <see cref="EndOfInput"/>).
    /// </summary>
    internal long QuietUntil
    {
        get
        {
            lock (gate)
            {
                DropStaleTimers();
                var limit = Volatile.Read(ref inputHorizon);
                return events.TryPeek(out _, out var key) ? Math.Min(limit, key.Due) : limit;
            }
        }
    }

    /// <summary>The driver will submit nothing more: only scheduled events change the simulation from now on.</summary>
    public void EndOfInput() => Volatile.Write(ref inputHorizon, long.MaxValue);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new VirtualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a thread that serves a lease: an idle one from an earlier lease, or a new one. The
    /// clock counts it as running from this call until it parks here or <paramref name="body"/> returns; whatever the
    /// thread hands on must be visible by then (queued to the thread pool, as a task continuation that runs
    /// asynchronously is, or on a thread registered here).
    /// </summary>
    /// <remarks>
    /// Threads are reused because creating one costs about 175 µs on the 2-core VM, and the simulator leases about once
    /// per request: a new thread per lease was most of a million-request run's time (issue 18's scale).
    /// The thread says itself that it has ended: the clock never reads that from <see cref="Thread.IsAlive"/> and
    /// <see cref="Thread.ThreadState"/>. While <see cref="Thread.Start()"/> runs, a new thread reads for a moment as neither
    /// unstarted nor alive; a clock that took that for "ended" dropped a serving thread that had yet to run, which then
    /// decoded unseen while virtual time ran ahead, one step per event (issue 18: requests waiting minutes of virtual time).
    /// </remarks>
    public void StartServingThread(Action body, string name)
    {
        ArgumentNullException.ThrowIfNull(body);
        ServingThread? reused;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (idle.TryPop(out reused))
            {
                SetServing(reused.Thread); // running from here: registered before it is woken
                reused.Body = body;
            }
        }

        if (reused is not null)
        {
            reused.Wake.Release();
            return;
        }

        var started = new ServingThread(body);
        started.Thread = new Thread(() => ServeBodies(started)) { IsBackground = true, Name = name };
        RegisterServingThread(started.Thread); // before it starts: the clock never sees it unaccounted for
        started.Thread.Start();
    }

    /// <summary>Ends the idle serving threads (those still serving end when their body returns).</summary>
    public void Dispose()
    {
        ServingThread[] ended;
        lock (gate)
        {
            disposed = true;
            ended = [.. idle];
            idle.Clear();
        }

        foreach (var thread in ended)
        {
            thread.Body = null;
            thread.Wake.Release();
        }
    }

    private void ServeBodies(ServingThread self)
    {
        while (self.Body is { } body)
        {
            try
            {
                body();
            }
            finally
            {
                lock (gate)
                {
                    RemoveServing(self.Thread); // its work is over: handed on by now (see StartServingThread)
                    self.Body = null;
                    if (!disposed)
                    {
                        idle.Push(self);
                    }
                }
            }

            if (Volatile.Read(ref disposed))
            {
                return;
            }

            self.Wake.Wait(); // until StartServingThread hands it a body, or Dispose (no body) ends it
        }

        self.Wake.Dispose();
    }

    /// <summary>Counts <paramref name="thread"/> as a serving thread, running until it parks here or <see cref="EndServingThread"/>.</summary>
    internal void RegisterServingThread(Thread thread)
    {
        lock (gate)
        {
            SetServing(thread);
        }
    }

    /// <summary>The serving thread's work is over (called by the thread itself, after it has handed on its result).</summary>
    internal void EndServingThread(Thread thread)
    {
        lock (gate)
        {
            RemoveServing(thread);
        }
    }

    /// <summary>Blocks the calling thread for <paramref name="duration"/> of virtual time.</summary>
    public void Sleep(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return;
        }

        using var wake = new SemaphoreSlim(0, 1);
        var thread = Thread.CurrentThread;
        lock (gate)
        {
            MarkParked(thread);
            events.Enqueue(new Event(thread, wake, null, 0, null), (now + duration.Ticks, order++));
        }

        wake.Wait();
    }

    /// <summary>
    /// Blocks the calling thread through a chain of steps that need no thread of their own: at <paramref name="firstDue"/>,
    /// and then at each time it returns, the clock calls <paramref name="step"/> (on the driver's thread, with the clock at
    /// that time and nothing else running); a null return ends the chain and wakes the caller, an outside event
    /// (<see cref="OutsideEvents"/>) unless the step says otherwise. A step is not one, so chains of several threads
    /// interleave without waking any of them.
    /// </summary>
    internal void SleepThrough(long firstDue, ChainStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        using var wake = new SemaphoreSlim(0, 1);
        var thread = Thread.CurrentThread;
        lock (gate)
        {
            MarkParked(thread);
            events.Enqueue(new Event(thread, wake, null, 0, step), (Math.Max(firstDue, now), order++));
        }

        wake.Wait();
    }

    /// <summary>Blocks the calling thread until <paramref name="task"/> completes; it counts as parked meanwhile.</summary>
    /// <remarks>
    /// The waker marks the thread running (in the continuation, synchronously, before it goes on). The continuation is
    /// registered before the thread counts as parked, and the thread counts as parked only if the task has not completed
    /// by then: marked parked first, a task that completed before its continuation was registered ran that continuation
    /// on the parked thread itself, which then ran while the clock took it for parked, and the driver could move
    /// virtual time on under it (a linger that timed out then ended only at the next arrival).
    /// </remarks>
    public void Park(Task task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task.IsCompleted)
        {
            return;
        }

        var thread = Thread.CurrentThread;
        var parked = false; // both guarded by the gate
        var woken = false;
        var resumed = task.ContinueWith(_ =>
        {
            lock (gate)
            {
                woken = true;
                if (parked)
                {
                    MarkRunning(thread);
                }
            }
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        lock (gate)
        {
            if (!woken)
            {
                MarkParked(thread);
                parked = true;
            }
        }

        resumed.Wait();
    }

    /// <summary>
    /// Fires every event due at or before <paramref name="until"/>, one at a time in order, waiting for quiescence
    /// before each and after the last, then sets the clock to <paramref name="until"/> (when it is later).
    /// </summary>
    /// <remarks>The driver's input follows (a submit): it counts as an outside event from here.</remarks>
    public void AdvanceTo(TimeSpan until)
    {
        if (until.Ticks > Volatile.Read(ref inputHorizon))
        {
            Volatile.Write(ref inputHorizon, until.Ticks); // before any event fires: what it wakes may run up to here
        }

        var fired = Fired.Woke;
        while (true)
        {
            if (fired != Fired.Quietly)
            {
                WaitQuiescent();
            }

            fired = FireNext(until.Ticks);
            if (fired == Fired.Nothing)
            {
                break;
            }
        }

        lock (gate)
        {
            if (until.Ticks > now)
            {
                Volatile.Write(ref now, until.Ticks);
            }

            Volatile.Write(ref outsideEvents, outsideEvents + 1);
        }
    }

    /// <summary>Fires the next event, whenever it is due; false when nothing is scheduled.</summary>
    public bool AdvanceOne()
    {
        WaitQuiescent();
        var fired = FireNext(long.MaxValue);
        if (fired == Fired.Woke)
        {
            WaitQuiescent();
        }

        return fired != Fired.Nothing;
    }

    /// <summary>Waits (in real time) until no simulated thread runs.</summary>
    /// <remarks>
    /// Measured on the 2-core VM (30,000 requests, 6 models): a spin beside the simulated threads was slower than yielding
    /// to them at once (4.0-6.4 s against 3.6 s), and blocking while a serving thread runs leaves its core free.
    /// </remarks>
    public void WaitQuiescent()
    {
        var calm = 0;
        while (calm < 2)
        {
            if (IsQuiescent())
            {
                calm++;
                continue;
            }

            calm = 0;
            if (Volatile.Read(ref runningServing) > 0)
            {
                servingParked.Wait(); // blocks (after a short spin) until the last running serving thread parks
            }
            else
            {
                Thread.Yield(); // thread-pool work, which says nothing when it ends: yield to it (spinning measured slower here)
            }
        }
    }

    /// <summary>
    /// Whether no simulated thread runs now: every serving thread parked here, no thread-pool thread busy but those
    /// parked here (and the caller, the driver, when it is one), nothing queued to the pool.
    /// </summary>
    internal bool IsQuiescent()
    {
        lock (gate)
        {
            if (runningServing > 0)
            {
                return false;
            }

            ThreadPool.GetMaxThreads(out var max, out _);
            ThreadPool.GetAvailableThreads(out var available, out _);
            var busy = max - available - parkedPoolThreads - (Thread.CurrentThread.IsThreadPoolThread ? 1 : 0);
            return busy <= 0 && ThreadPool.PendingWorkItemCount == 0;
        }
    }

    private Fired FireNext(long until)
    {
        Event next;
        lock (gate)
        {
            DropStaleTimers();
            if (!events.TryPeek(out _, out var key) || key.Due > until)
            {
                return Fired.Nothing;
            }

            next = events.Dequeue();
            if (key.Due > now)
            {
                Volatile.Write(ref now, key.Due);
            }

            EventsFired++;
            if (next.Step is null)
            {
                Volatile.Write(ref outsideEvents, outsideEvents + 1);
                if (next.Sleeper is { } sleeper)
                {
                    MarkRunning(sleeper);
                }
            }
        }

        if (next.Step is { } step)
        {
            // A step of a parked chain, on this (the driver's) thread: nothing else runs, so the clock is quiescent after it
            // unless it ends the chain and wakes the thread.
            if (step(GetTimestamp(), out var outside) is { } due)
            {
                lock (gate)
                {
                    events.Enqueue(next, (Math.Max(due, now), order++));
                }

                return Fired.Quietly;
            }

            lock (gate)
            {
                if (outside)
                {
                    Volatile.Write(ref outsideEvents, outsideEvents + 1); // the thread runs on: what it does is outside any chain
                }

                MarkRunning(next.Sleeper!);
            }
        }

        if (next.Wake is { } wake)
        {
            wake.Release();
        }
        else
        {
            next.Timer!.Fire(next.Generation);
        }

        return Fired.Woke;
    }

    /// <summary>
    /// Drops firings of timers changed or disposed since they were scheduled (a linger's timeout that the request it
    /// waited for beat, say): they would do nothing, yet each would cost a wait for quiescence and cut coalesced steps.
    /// Their time stays unreached: firing one would move the clock only to do nothing there.
    /// </summary>
    private void DropStaleTimers()
    {
        while (events.TryPeek(out var next, out _) && next.Timer is { } timer && timer.IsStale(next.Generation))
        {
            events.Dequeue();
        }
    }

    /// <summary>Counts <paramref name="thread"/> as a serving thread that runs (caller holds the gate).</summary>
    private void SetServing(Thread thread)
    {
        serving.Add(thread, false);
        CountRunning(+1);
    }

    /// <summary>The serving thread has ended its body: it counts no more (caller holds the gate).</summary>
    private void RemoveServing(Thread thread)
    {
        if (serving.Remove(thread, out var parked) && !parked)
        {
            CountRunning(-1);
        }
    }

    /// <summary>
    /// Keeps the count of running serving threads and <see cref="servingParked"/> in step (caller holds the gate):
    /// the driver blocks on that event while a serving thread runs instead of spinning beside it on a 2-core machine.
    /// </summary>
    private void CountRunning(int change)
    {
        runningServing += change;
        if (runningServing == 0)
        {
            servingParked.Set();
        }
        else if (change > 0 && runningServing == 1)
        {
            servingParked.Reset();
        }
    }

    private void MarkParked(Thread thread)
    {
        if (serving.TryGetValue(thread, out var parked))
        {
            if (!parked)
            {
                serving[thread] = true;
                CountRunning(-1);
            }
        }
        else if (thread.IsThreadPoolThread)
        {
            parkedPoolThreads++;
        }
    }

    private void MarkRunning(Thread thread)
    {
        if (serving.TryGetValue(thread, out var parked))
        {
            if (parked)
            {
                serving[thread] = false;
                CountRunning(+1);
            }
        }
        else if (thread.IsThreadPoolThread)
        {
            parkedPoolThreads--;
        }
    }

    private void Schedule(VirtualTimer timer, long due, long generation)
    {
        lock (gate)
        {
            events.Enqueue(new Event(null, null, timer, generation, null), (Math.Max(due, now), order++));
        }
    }

    /// <summary>A reusable serving thread: <see cref="Body"/> is its next lease's work (null: end), <see cref="Wake"/> hands it over.</summary>
    private sealed class ServingThread(Action body)
    {
        public Thread Thread { get; set; } = null!;

        public SemaphoreSlim Wake { get; } = new(0, 1);

        public Action? Body { get; set; } = body;
    }

    /// <summary>
    /// One step of a <see cref="SleepThrough"/> chain at <paramref name="now"/>: when the next is due, or null to wake the
    /// thread, then with <paramref name="outside"/> saying whether what the thread does next counts as an outside event.
    /// </summary>
    internal delegate long? ChainStep(long now, out bool outside);

    private sealed record Event(Thread? Sleeper, SemaphoreSlim? Wake, VirtualTimer? Timer, long Generation, ChainStep? Step);

    private enum Fired
    {
        Nothing,
        Quietly, // a chain's step: no thread woke
        Woke,
    }

    /// <summary>A timer on virtual time; a change or dispose makes its pending firings stale (a generation number).</summary>
    private sealed class VirtualTimer(VirtualClock clock, TimerCallback callback, object? state) : ITimer
    {
        private long generation;
        private TimeSpan period = Timeout.InfiniteTimeSpan;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock.gate)
            {
                generation++;
                this.period = period;
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    return true;
                }

                clock.Schedule(this, clock.now + Math.Max(0, dueTime.Ticks), generation);
            }

            return true;
        }

        /// <summary>Whether a firing scheduled at <paramref name="scheduled"/> is out of date (caller holds the clock's gate).</summary>
        public bool IsStale(long scheduled) => scheduled != generation;

        public void Fire(long scheduled)
        {
            lock (clock.gate)
            {
                if (scheduled != generation)
                {
                    return; // changed or disposed since it was scheduled
                }

                if (period != Timeout.InfiniteTimeSpan && period > TimeSpan.Zero)
                {
                    clock.Schedule(this, clock.now + period.Ticks, generation);
                }
            }

            callback(state);
        }

        public void Dispose()
        {
            lock (clock.gate)
            {
                generation++;
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
