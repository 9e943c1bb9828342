using ModelRouter.Runtime.Swap;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>Pool states and policies with a fake store: which model is evicted, when, and what never is.</summary>
public sealed class ModelPoolPolicyTests
{
    private readonly FakeStoreFactory stores = new();
    private readonly ManualTime time = new();

    private ModelPool NewPool(long budget, params ModelRegistration[] registrations)
    {
        var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = budget, StoreFactory = stores, Time = time });
        foreach (var registration in registrations)
        {
            pool.Register(registration);
        }

        return pool;
    }

    private static ModelRegistration Model(string name, int priority = 0, bool pinned = false, TimeSpan? keepAlive = null) =>
        new(name, "/models/" + name + ".gguf") { Priority = priority, Pinned = pinned, KeepAlive = keepAlive };

    private async Task UseAsync(ModelPool pool, string name)
    {
        using var lease = await pool.AcquireAsync(name, TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(1));
    }

    [Fact(Timeout = 30_000)]
    public async Task Least_recently_used_model_is_evicted_first()
    {
        using var pool = NewPool(200, Model("a"), Model("b"), Model("c"));
        await UseAsync(pool, "a");
        await UseAsync(pool, "b");
        await UseAsync(pool, "a"); // b is now the least recently used

        await UseAsync(pool, "c");

        Assert.Equal(["restore a", "restore b", "evict b", "restore c"], stores.Journal);
        Assert.Equal(ModelState.Resident, State(pool, "a"));
        Assert.Equal(ModelState.Evicted, State(pool, "b"));
        Assert.Equal(ModelTier.Warm, Status(pool, "b").Tier);
    }

    [Fact(Timeout = 30_000)]
    public async Task Drop_releases_an_idle_host_copy_but_never_a_resident_pinned_or_leased_model()
    {
        using var pool = NewPool(200, Model("a"), Model("b"), Model("pinned", pinned: true));
        var cancel = TestContext.Current.CancellationToken;
        await UseAsync(pool, "a");
        await pool.TryEvictAsync("a", cancel);
        Assert.Equal(ModelTier.Warm, Status(pool, "a").Tier);

        Assert.True(await pool.TryDropAsync("a", cancel));
        Assert.Equal((ModelState.Evicted, ModelTier.Cold), (State(pool, "a"), Status(pool, "a").Tier));
        Assert.True(await pool.TryDropAsync("a", cancel)); // Cold already: nothing to do, and it says so

        var lease = await pool.AcquireAsync("b", cancel);
        Assert.False(await pool.TryDropAsync("b", cancel)); // resident and leased
        lease.Dispose();
        Assert.False(await pool.TryDropAsync("b", cancel)); // resident
        Assert.Equal(ModelTier.Resident, Status(pool, "b").Tier);

        await pool.PrefetchAsync("pinned", cancellation: cancel);
        Assert.False(await pool.TryDropAsync("pinned", cancel));
        Assert.Equal(ModelTier.Warm, Status(pool, "pinned").Tier);

        await UseAsync(pool, "a"); // a dropped model comes back from its file on the next acquire
        Assert.Equal(ModelState.Resident, State(pool, "a"));
        await Assert.ThrowsAsync<ModelUnavailableException>(() => pool.TryDropAsync("nope", cancel));
    }

    [Fact(Timeout = 30_000)]
    public async Task Staging_builds_a_host_image_only_with_free_room_and_counts_no_restore()
    {
        using var pool = NewPool(200, Model("a"), Model("b"), Model("c"), Model("pinned", pinned: true), Model("plain"));
        foreach (var name in new[] { "a", "b", "c", "pinned" })
        {
            stores.Stores[name].KeepsImage = true;
        }

        var cancel = TestContext.Current.CancellationToken;
        await UseAsync(pool, "a");
        stores.Journal.Clear();

        Assert.True(await pool.TryStageHostImageAsync("b", cancel)); // 100 free beside a: loaded, then evicted at once
        Assert.Equal(["restore b", "evict b"], stores.Journal);
        var b = Status(pool, "b");
        Assert.Equal((ModelState.Evicted, ModelTier.Warm, 0, 1), (b.State, b.Tier, b.Restores, b.Stagings));
        Assert.False(await pool.TryStageHostImageAsync("b", cancel)); // it has its image now

        await UseAsync(pool, "b"); // a + b fill the budget
        stores.Journal.Clear();
        Assert.False(await pool.TryStageHostImageAsync("c", cancel)); // no free room: nothing is evicted for a staging
        Assert.Empty(stores.Journal);
        Assert.Equal(ModelState.Resident, State(pool, "a"));

        await pool.TryEvictAsync("b", cancel);
        stores.Journal.Clear();
        Assert.False(await pool.TryStageHostImageAsync("pinned", cancel)); // pinned models are the operator's
        Assert.False(await pool.TryStageHostImageAsync("plain", cancel)); // a store without an image (reload path)
        Assert.Empty(stores.Journal);
        Assert.True(await pool.TryStageHostImageAsync("c", cancel));
        Assert.Equal(1, Status(pool, "b").Restores); // the acquire above; the staging never counted
    }

    [Fact(Timeout = 30_000)]
    public async Task Lower_priority_goes_before_older_use()
    {
        using var pool = NewPool(200, Model("important", priority: 10), Model("cheap", priority: 0), Model("new"));
        await UseAsync(pool, "important");
        await UseAsync(pool, "cheap");

        await UseAsync(pool, "new");

        Assert.Equal(ModelState.Evicted, State(pool, "cheap"));
        Assert.Equal(ModelState.Resident, State(pool, "important"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Pinned_models_are_never_evicted_and_unpin_releases_them()
    {
        using var pool = NewPool(200, Model("pinned", pinned: true), Model("b"), Model("c"));
        await UseAsync(pool, "pinned");
        await UseAsync(pool, "b");
        await UseAsync(pool, "c");
        Assert.Equal(ModelState.Resident, State(pool, "pinned"));
        Assert.False(await pool.TryEvictAsync("pinned", TestContext.Current.CancellationToken));

        pool.Unpin("pinned");
        await UseAsync(pool, "b");

        Assert.Equal(ModelState.Evicted, State(pool, "pinned"));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_model_with_decodes_in_flight_is_never_evicted_the_requester_waits()
    {
        using var pool = NewPool(100, Model("busy"), Model("next"));
        var lease = await pool.AcquireAsync("busy", TestContext.Current.CancellationToken);

        // With the pool's lock free, AcquireAsync runs synchronously up to its wait for room: when it returns, the
        // request has found no room (busy is leased) and waits for a lease to end, the only thing that wakes it.
        var waiting = pool.AcquireAsync("next", TestContext.Current.CancellationToken).AsTask();
        Assert.False(waiting.IsCompleted);
        Assert.False(await pool.TryEvictAsync("busy", TestContext.Current.CancellationToken)); // the lock is free; busy stays
        Assert.False(waiting.IsCompleted);
        Assert.Equal(ModelState.Resident, State(pool, "busy"));
        Assert.Equal(["restore busy"], stores.Journal);
        Assert.Equal(1, Status(pool, "busy").DecodesInFlight);

        lease.Dispose();
        using var next = await waiting.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(ModelState.Evicted, State(pool, "busy"));
        Assert.Equal("next", next.Name);
    }

    [Fact(Timeout = 60_000)]
    public async Task Waiters_for_room_are_served_in_the_order_they_found_none()
    {
        // One model fits. Eight requests for eight other models find no room behind a busy lease; each lease that ends
        // must go to the longest waiter. Before, a release woke every waiter on a thread of its own and they raced for
        // the pool's lock, so which model was restored next depended on thread timing (issue 18: unfair in production,
        // and simulations that did not repeat).
        var names = Enumerable.Range(1, 8).Select(i => "m" + i).ToArray();
        using var pool = NewPool(100, [Model("busy"), .. names.Select(n => Model(n))]);
        for (var round = 0; round < 3; round++)
        {
            var lease = await pool.AcquireAsync("busy", TestContext.Current.CancellationToken);
            var waiting = names.Select(n => pool.AcquireAsync(n, TestContext.Current.CancellationToken).AsTask()).ToArray();
            Assert.DoesNotContain(waiting, w => w.IsCompleted);
            stores.Journal.Clear();

            lease.Dispose();
            for (var i = 0; i < names.Length; i++)
            {
                using var next = await waiting[i].WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
                Assert.Equal(names[i], next.Name);
                Assert.DoesNotContain(waiting[(i + 1)..], w => w.IsCompleted); // one model fits: the others still wait
            }

            var restores = stores.Journal.Where(e => e.StartsWith("restore ", StringComparison.Ordinal)).ToArray();
            Assert.Equal(names.Select(n => "restore " + n), restores);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Waiting_for_room_can_be_cancelled()
    {
        using var pool = NewPool(100, Model("busy"), Model("next"));
        using var lease = await pool.AcquireAsync("busy", TestContext.Current.CancellationToken);
        using var cts = new CancellationTokenSource();
        var waiting = pool.AcquireAsync("next", cts.Token).AsTask();
        Assert.False(waiting.IsCompleted); // waiting for room, as above

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(ModelState.Evicted, State(pool, "next"));
    }

    [Fact(Timeout = 30_000)]
    public async Task Keep_alive_evicts_idle_models_only()
    {
        using var pool = NewPool(1000, Model("short", keepAlive: TimeSpan.FromMinutes(5)), Model("forever"));
        await UseAsync(pool, "short");
        await UseAsync(pool, "forever");

        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Empty(await pool.EvictIdleAsync(TestContext.Current.CancellationToken));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(["short"], await pool.EvictIdleAsync(TestContext.Current.CancellationToken));
        Assert.Equal(ModelState.Resident, State(pool, "forever"));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_model_larger_than_the_budget_is_unavailable_with_the_figures()
    {
        stores.Sizes["huge"] = 5000;
        using var pool = NewPool(1000, Model("huge"));

        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("huge", TestContext.Current.CancellationToken));

        Assert.Contains("5,000", ex.Message, StringComparison.Ordinal);
        Assert.Contains("1,000", ex.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Unknown_models_are_named_with_the_known_ones()
    {
        using var pool = NewPool(1000, Model("a"), Model("b"));

        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("zzz", TestContext.Current.CancellationToken));

        Assert.Contains("zzz", ex.Message, StringComparison.Ordinal);
        Assert.Contains("a, b", ex.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_failed_restore_marks_the_model_failed_and_the_next_acquire_retries()
    {
        using var pool = NewPool(1000, Model("flaky"));
        stores.Stores["flaky"].FailNextRestore = new IOException("disk on fire");

        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("flaky", TestContext.Current.CancellationToken));
        Assert.Contains("disk on fire", ex.Message, StringComparison.Ordinal);
        Assert.Equal(ModelState.Failed, State(pool, "flaky"));
        Assert.Contains("disk on fire", Status(pool, "flaky").LastError, StringComparison.Ordinal);

        using var lease = await pool.AcquireAsync("flaky", TestContext.Current.CancellationToken);
        Assert.Equal(ModelState.Resident, State(pool, "flaky"));
        Assert.Null(Status(pool, "flaky").LastError);
    }

    [Fact(Timeout = 30_000)]
    public async Task Requests_during_a_restore_wait_for_it_and_share_one_restore()
    {
        using var pool = NewPool(1000, Model("m"));
        using var hold = new ManualResetEventSlim(false);
        stores.Stores["m"].HoldRestore = hold;

        var first = pool.AcquireAsync("m", TestContext.Current.CancellationToken).AsTask();
        await HeldAsync(stores.Stores["m"].RestoreHeld);
        Assert.Equal(ModelState.Restoring, State(pool, "m"));

        // The restore holds the pool's lock: the second request waits for it (no lease on a model that is not resident).
        var second = pool.AcquireAsync("m", TestContext.Current.CancellationToken).AsTask();
        Assert.False(second.IsCompleted);

        hold.Set();
        using var a = await first;
        using var b = await second;
        Assert.Equal(["restore m"], stores.Journal);
        Assert.Equal(2, Status(pool, "m").DecodesInFlight);
        Assert.NotNull(a.SwapTime);
        Assert.Null(b.SwapTime);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_cancelled_restore_leaves_the_model_evicted_and_healthy()
    {
        using var pool = NewPool(1000, Model("m"));
        using var hold = new ManualResetEventSlim(false);
        stores.Stores["m"].HoldRestore = hold;
        using var cts = new CancellationTokenSource();

        var acquire = pool.AcquireAsync("m", cts.Token).AsTask();
        await HeldAsync(stores.Stores["m"].RestoreHeld);
        Assert.Equal(ModelState.Restoring, State(pool, "m"));
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquire);

        Assert.Equal(ModelState.Evicted, State(pool, "m"));
        stores.Stores["m"].HoldRestore = null;
        using var lease = await pool.AcquireAsync("m", TestContext.Current.CancellationToken);
        Assert.Equal(ModelState.Resident, State(pool, "m"));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_request_for_a_model_being_evicted_waits_and_then_restores_it()
    {
        using var pool = NewPool(100, Model("a"), Model("b"));
        await UseAsync(pool, "a");
        using var hold = new ManualResetEventSlim(false);
        stores.Stores["a"].HoldEvict = hold;

        // The fake evict blocks its caller: start the acquire that triggers it on another thread.
        var b = Task.Run(async () => await pool.AcquireAsync("b", TestContext.Current.CancellationToken), TestContext.Current.CancellationToken);
        await HeldAsync(stores.Stores["a"].EvictHeld);
        Assert.Equal(ModelState.Evicting, State(pool, "a"));
        var a = pool.AcquireAsync("a", TestContext.Current.CancellationToken).AsTask();
        Assert.False(a.IsCompleted); // no lease is ever granted on a model that is being evicted (it waits for the lock)

        hold.Set();
        (await b).Dispose();
        using var leaseA = await a.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(["restore a", "evict a", "restore b", "evict b", "restore a"], stores.Journal);
    }

    [Fact(Timeout = 30_000)]
    public async Task Prefetch_warms_without_making_resident_and_registration_rejects_duplicates()
    {
        using var pool = NewPool(1000, Model("m"));

        await pool.PrefetchAsync("m", cancellation: TestContext.Current.CancellationToken);

        Assert.Equal(ModelTier.Warm, Status(pool, "m").Tier);
        Assert.Equal(ModelState.Evicted, State(pool, "m"));
        Assert.Throws<ArgumentException>(() => pool.Register(Model("m")));
    }

    private static ModelStatus Status(ModelPool pool, string name)
    {
        Assert.True(pool.TryGetStatus(name, out var status));
        return status!;
    }

    private static ModelState State(ModelPool pool, string name) => Status(pool, name).State;

    /// <summary>Waits for a fake store's signal, bounded so that a pool that never gets there fails instead of hanging.</summary>
    private static Task HeldAsync(Task held) => held.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
}
