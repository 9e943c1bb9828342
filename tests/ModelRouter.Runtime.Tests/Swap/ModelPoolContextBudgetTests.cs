using ModelRouter.Runtime.Swap;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>
/// The budget counts contexts (KV caches, output and compute buffers) beside the weights, with a fake store whose
/// context bytes the test sets: exact figures, no native code.
/// </summary>
public sealed class ModelPoolContextBudgetTests
{
    private readonly FakeStoreFactory stores = new();
    private readonly ManualTime time = new();

    private ModelPool NewPool(long budget, params string[] names)
    {
        var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = budget, StoreFactory = stores, Time = time });
        foreach (var name in names)
        {
            pool.Register(new ModelRegistration(name, "/models/" + name + ".gguf"));
        }

        return pool;
    }

    private async Task UseAsync(ModelPool pool, string name, long contextBytes = 0)
    {
        using var lease = await pool.AcquireAsync(name, TestContext.Current.CancellationToken);
        if (contextBytes > 0)
        {
            stores.Stores[name].ContextBytes = contextBytes; // as if the request had created its context
        }

        time.Advance(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Resident_bytes_are_the_weights_plus_every_live_context_evicted_or_not()
    {
        using var pool = NewPool(1000, "a", "b");
        await UseAsync(pool, "a", contextBytes: 30);
        await UseAsync(pool, "b", contextBytes: 7);

        Assert.Equal(100 + 30 + 100 + 7, pool.ResidentBytes);
        Assert.Equal(30, pool.Snapshot().Single(s => s.Name == "a").ContextBytes);

        // Evict keeps the contexts (the swap-region path): they still hold memory, so they still count.
        Assert.True(await pool.TryEvictAsync("a", TestContext.Current.CancellationToken));
        Assert.Equal(100, pool.WeightBytes);
        Assert.Equal(37, pool.ContextBytes);
        Assert.Equal(100 + 37, pool.ResidentBytes);
    }

    [Theory]
    [InlineData(0, false)] // weights alone fit: both stay resident
    [InlineData(60, true)] // the same weights plus a's context do not: a must go
    public async Task A_budget_that_fits_the_weights_but_not_a_context_evicts(long contextBytes, bool evicted)
    {
        using var pool = NewPool(250, "a", "b"); // two weights of 100 each, and 50 to spare
        await UseAsync(pool, "a", contextBytes);

        await UseAsync(pool, "b");

        Assert.Equal(evicted ? ModelState.Evicted : ModelState.Resident, pool.Snapshot().Single(s => s.Name == "a").State);
        Assert.Equal(evicted, stores.Journal.Contains("evict a"));
        Assert.True(pool.ResidentBytes <= pool.BudgetBytes, $"{pool.ResidentBytes} bytes held over a budget of {pool.BudgetBytes}");
    }

    [Fact]
    public async Task Contexts_of_evicted_models_are_released_before_a_resident_model_is_evicted()
    {
        using var pool = NewPool(230, "a", "b", "c");
        await UseAsync(pool, "a", contextBytes: 40);
        Assert.True(await pool.TryEvictAsync("a", TestContext.Current.CancellationToken)); // a: 40 bytes of contexts left
        await UseAsync(pool, "b");

        await UseAsync(pool, "c"); // 100 (b) + 40 (a's contexts) + 100 > 230: a's contexts go, b stays

        Assert.Equal(["restore a", "evict a", "restore b", "release contexts a", "restore c"], stores.Journal);
        Assert.Equal(ModelState.Resident, pool.Snapshot().Single(s => s.Name == "b").State);
        Assert.Equal(1, pool.Snapshot().Single(s => s.Name == "a").ContextReleases);
        Assert.Equal(200, pool.ResidentBytes);
    }

    [Fact]
    public async Task The_requesters_own_contexts_are_released_when_nothing_else_makes_room()
    {
        using var pool = NewPool(150, "a");
        await UseAsync(pool, "a", contextBytes: 80);
        Assert.True(await pool.TryEvictAsync("a", TestContext.Current.CancellationToken));

        await UseAsync(pool, "a"); // 80 of contexts + 100 of weights > 150: rather a new context than waiting forever

        Assert.Equal(["restore a", "evict a", "release contexts a", "restore a"], stores.Journal);
        Assert.Equal(100, pool.ResidentBytes);
    }
}
