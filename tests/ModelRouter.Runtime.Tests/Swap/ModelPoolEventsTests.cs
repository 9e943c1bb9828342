using ModelRouter.Runtime.Swap;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary><see cref="ModelPool.Swapped"/>: one event per successful move, in order, with where the weights went or came from.</summary>
public sealed class ModelPoolEventsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 30_000)]
    public async Task Every_evict_and_restore_is_raised_with_its_tier_and_a_failed_restore_is_not()
    {
        var stores = new FakeStoreFactory();
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 150, StoreFactory = stores });
        pool.Register(new ModelRegistration("a", "/models/a.gguf"));
        pool.Register(new ModelRegistration("b", "/models/b.gguf"));
        var seen = new List<PoolSwap>();
        pool.Swapped += seen.Add;

        (await pool.AcquireAsync("a", Cancel)).Dispose();
        (await pool.AcquireAsync("b", Cancel)).Dispose(); // only one fits: a is evicted first
        stores.Stores["a"].FailNextRestore = new IOException("disk gone");
        await Assert.ThrowsAsync<ModelUnavailableException>(async () => (await pool.AcquireAsync("a", Cancel)).Dispose());

        Assert.Equal(
            [("a", PoolSwapKind.Restore, ModelTier.Cold), ("a", PoolSwapKind.Evict, ModelTier.Warm), ("b", PoolSwapKind.Restore, ModelTier.Cold),
             ("b", PoolSwapKind.Evict, ModelTier.Warm)],
            seen.Select(s => (s.Model, s.Kind, s.Tier)));
        Assert.All(seen, s => Assert.True(s.Duration >= TimeSpan.Zero));
        Assert.All(seen, s => Assert.Equal(100, s.WeightBytes));
    }
}
