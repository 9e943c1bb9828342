using ModelRouter.Cli.Simulation;

namespace ModelRouter.Cli.Tests.Simulation;

/// <summary>
/// The clock's bookkeeping of serving threads (issue 18: a serving thread taken for ended while it started ran unseen,
/// and virtual time ran ahead of it: requests waited minutes of virtual time).
/// </summary>
[Collection(SimulationRunsAlone.Name)]
public sealed class VirtualClockTests
{
    private const int Timeout = 120_000;

    [Fact(Timeout = Timeout)]
    public void AServingThreadRunsUntilItSaysItHasEndedWhateverItsThreadStateReads()
    {
        using var clock = new VirtualClock();
        clock.WaitQuiescent(); // nothing else runs: what follows is about the serving thread alone

        // A thread that has run to its end reads as a starting thread reads for a moment inside Thread.Start: neither
        // alive nor unstarted. The clock took that for "ended" and dropped the thread; only the thread itself may say so.
        var thread = new Thread(() => { });
        thread.Start();
        thread.Join();
        clock.RegisterServingThread(thread);

        Assert.False(clock.IsQuiescent());
        Assert.False(clock.IsQuiescent()); // still counted: the first look did not drop it

        clock.EndServingThread(thread);
        clock.WaitQuiescent();
    }

    [Fact(Timeout = Timeout)]
    public void VirtualTimeWaitsForEveryServingThreadFromItsStart()
    {
        // Each round starts a serving thread that sleeps 1 ms of virtual time twice, with a timer due at 1.5 ms: when the
        // clock loses sight of the thread while it starts, the timer fires first and the thread's sleeps end late. As in
        // the simulation, a thread-pool thread starts it while the driver watches (the worker's continuation leases the
        // model, then starts its serving thread).
        using var clock = new VirtualClock();
        using var timer = clock.CreateTimer(_ => { }, null, System.Threading.Timeout.InfiniteTimeSpan, System.Threading.Timeout.InfiniteTimeSpan);
        var step = TimeSpan.FromMilliseconds(1);
        for (var round = 0; round < 5000; round++)
        {
            var start = clock.Now;
            var woke = new TimeSpan[2];
            using var ended = new ManualResetEventSlim();
            timer.Change(step * 1.5, System.Threading.Timeout.InfiniteTimeSpan);
            _ = Task.Run(() => clock.StartServingThread(() =>
            {
                clock.Sleep(step);
                woke[0] = clock.Now - start;
                clock.Sleep(step);
                woke[1] = clock.Now - start;
                ended.Set();
            }, "test serving"));

            while (!ended.IsSet)
            {
                clock.AdvanceOne(); // false until the thread has scheduled its next wake-up
            }

            Assert.Equal([step, step * 2], woke);
        }
    }

    [Fact(Timeout = Timeout)]
    public void AParkedThreadRunsFromTheMomentItsTaskCompletes()
    {
        // Each round a serving thread parks on a 1 ms delay (a linger), with a timer due at 1.5 ms: the driver fires the
        // delay as soon as the thread counts as parked. When that lands before the thread has registered its wake-up,
        // the thread must not stay counted as parked while it runs on, or the timer fires first and it resumes late.
        using var clock = new VirtualClock();
        using var timer = clock.CreateTimer(_ => { }, null, System.Threading.Timeout.InfiniteTimeSpan, System.Threading.Timeout.InfiniteTimeSpan);
        var step = TimeSpan.FromMilliseconds(1);
        for (var round = 0; round < 5000; round++)
        {
            var start = clock.Now;
            var woke = TimeSpan.Zero;
            using var ended = new ManualResetEventSlim();
            timer.Change(step * 1.5, System.Threading.Timeout.InfiniteTimeSpan);
            clock.StartServingThread(() =>
            {
                clock.Park(Task.Delay(step, clock));
                woke = clock.Now - start;
                ended.Set();
            }, "test serving");

            while (!ended.IsSet)
            {
                clock.AdvanceOne();
            }

            Assert.Equal(step, woke);
        }
    }

    [Fact(Timeout = Timeout)]
    public void AServingThreadIsReusedAndCountsAsRunningOnlyWhileItServes()
    {
        using var clock = new VirtualClock();
        clock.WaitQuiescent();
        var threads = new List<int>();
        for (var lease = 0; lease < 3; lease++)
        {
            using var release = new ManualResetEventSlim();
            using var ended = new ManualResetEventSlim();
            clock.StartServingThread(() =>
            {
                threads.Add(Environment.CurrentManagedThreadId);
                release.Wait(); // a wait the clock cannot see: the thread counts as running throughout
                ended.Set();
            }, "test serving");

            Assert.False(clock.IsQuiescent()); // counted from the start, before it has run
            Thread.Sleep(20);
            Assert.False(clock.IsQuiescent());
            release.Set();
            ended.Wait();
            clock.WaitQuiescent(); // idle between leases: not counted
        }

        Assert.Single(threads.Distinct()); // one thread served all three leases
    }
}
