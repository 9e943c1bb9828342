using ModelRouter.Runtime.Swap;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>
/// The device has less memory than the pool's budget says (another process, KV caches, fragmentation): a restore that
/// runs out of device memory makes the pool evict by policy and retry, and fails cleanly only when nothing can go.
/// </summary>
public sealed class ModelPoolDeviceMemoryTests
{
    private readonly FakeStoreFactory stores = new() { Device = new FakeDevice(200) };
    private readonly ManualTime time = new();

    private ModelPool NewPool(params ModelRegistration[] registrations)
    {
        // The budget believes three 100-byte models fit; the fake device holds two.
        var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 300, StoreFactory = stores, Time = time });
        foreach (var registration in registrations)
        {
            pool.Register(registration);
        }

        return pool;
    }

    private static ModelRegistration Model(string name, bool pinned = false) => new(name, "/models/" + name + ".gguf") { Pinned = pinned };

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Out_of_device_memory_evicts_the_least_recently_used_model_and_retries()
    {
        using var pool = NewPool(Model("a"), Model("b"), Model("c"));
        (await pool.AcquireAsync("a", Cancellation)).Dispose();
        time.Advance(TimeSpan.FromSeconds(1));
        (await pool.AcquireAsync("b", Cancellation)).Dispose(); // a is now the least recently used
        time.Advance(TimeSpan.FromSeconds(1));

        using (var lease = await pool.AcquireAsync("c", Cancellation))
        {
            Assert.Equal(ModelState.Resident, Status(pool, "c").State);
        }

        Assert.Equal(["restore a", "restore b", "out of device memory c", "evict a", "restore c"], stores.Journal);
        Assert.Equal(ModelState.Evicted, Status(pool, "a").State);
        Assert.Equal(ModelState.Resident, Status(pool, "b").State);
        Assert.Equal(1, Status(pool, "c").DeviceMemoryRetries);
        Assert.Null(Status(pool, "c").LastError);
        Assert.Equal(200, stores.Device!.UsedBytes);
    }

    [Fact]
    public async Task Out_of_device_memory_with_nothing_evictable_fails_clearly_and_leaves_everything_healthy()
    {
        using var pool = NewPool(Model("pinned", pinned: true), Model("busy"), Model("late"));
        (await pool.AcquireAsync("pinned", Cancellation)).Dispose();
        var busy = await pool.AcquireAsync("busy", Cancellation);

        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("late", Cancellation));
        Assert.IsType<DeviceMemoryExhaustedException>(ex.InnerException);
        Assert.Contains("ran out of memory", ex.Message, StringComparison.Ordinal);
        Assert.Contains("pinned or busy", ex.Message, StringComparison.Ordinal);

        // Nothing half-done: the late model is evicted (not resident, not failed for good), the others untouched.
        Assert.Equal(ModelState.Evicted, Status(pool, "late").State);
        Assert.Equal(ModelTier.Cold, Status(pool, "late").Tier);
        Assert.Equal(ModelState.Resident, Status(pool, "pinned").State);
        Assert.Equal(ModelState.Resident, Status(pool, "busy").State);
        Assert.Equal(200, stores.Device!.UsedBytes);

        // Once the busy model's decode ends it becomes the victim and the late model gets in.
        busy.Dispose();
        using var lease = await pool.AcquireAsync("late", Cancellation);
        Assert.Equal(ModelState.Evicted, Status(pool, "busy").State);
        Assert.Equal(ModelState.Resident, Status(pool, "pinned").State);
        Assert.Equal(ModelState.Resident, Status(pool, "late").State);
    }

    private static ModelStatus Status(ModelPool pool, string name) =>
        pool.TryGetStatus(name, out var status) ? status! : throw new InvalidOperationException("unknown " + name);
}
