using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Tests.Routing;

public sealed class ServerModelAvailabilityTests
{
    private static readonly AvailabilitySettings Settings = new() { ServiceTimeMs = 100, PromptMs = 20, HostBandwidthMBps = 50, DiskBandwidthMBps = 10 };

    private static ModelPool Pool(TestModels models, int residentModels)
    {
        var size = new CpuWeightStore(new ModelRegistration("probe", models.Paths[0])).WeightBytes;
        var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = (size * residentModels) + (size / 2) });
        for (var i = 0; i < models.Paths.Count; i++)
        {
            pool.Register(new ModelRegistration($"m{i}", models.Paths[i]));
        }

        return pool;
    }

    private static ModelStatus Status(ModelPool pool, string name) => pool.TryGetStatus(name, out var status) ? status! : throw new InvalidOperationException(name);

    private static void Near(double expectedMs, TimeSpan actual) => Assert.Equal(expectedMs, actual.TotalMilliseconds, 0.01);

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_resident_model_costs_only_the_prompt_and_an_evicted_one_adds_its_swap_cold_more_than_warm()
    {
        using var models = TestModels.Create(3);
        using var pool = Pool(models, residentModels: 1);
        var availability = new ServerModelAvailability(pool, _ => 0, maxBatchPerModel: 4, Settings);
        using (await pool.AcquireAsync("m0", TestContext.Current.CancellationToken))
        {
        }

        await pool.PrefetchAsync("m1", cancellation: TestContext.Current.CancellationToken);
        var warm = Status(pool, "m1");
        var cold = Status(pool, "m2");
        Assert.Equal(ModelState.Resident, Status(pool, "m0").State);
        Assert.Equal(ModelTier.Warm, warm.Tier);
        Assert.Null(warm.LastRestore);
        Assert.Equal(ModelTier.Cold, cold.Tier);

        Near(20, availability.EstimateTimeToFirstToken("m0"));
        Near(20 + (warm.WeightBytes / 50e6 * 1000), availability.EstimateTimeToFirstToken("m1"));
        Near(20 + (cold.WeightBytes / 50e6 * 1000) + (cold.WeightBytes / 10e6 * 1000), availability.EstimateTimeToFirstToken("m2"));
        Assert.True(availability.EstimateTimeToFirstToken("m2") > availability.EstimateTimeToFirstToken("m1"));
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Once_restored_and_evicted_the_measured_restore_time_is_the_swap_estimate()
    {
        using var models = TestModels.Create(2);
        using var pool = Pool(models, residentModels: 1);
        var availability = new ServerModelAvailability(pool, _ => 0, maxBatchPerModel: 4, Settings);
        using (await pool.AcquireAsync("m0", TestContext.Current.CancellationToken))
        {
        }

        using (await pool.AcquireAsync("m1", TestContext.Current.CancellationToken)) // evicts m0: the budget holds one
        {
        }

        var m0 = Status(pool, "m0");
        Assert.NotEqual(ModelState.Resident, m0.State);
        Assert.NotNull(m0.LastRestore);
        var disk = m0.Tier == ModelTier.Cold ? m0.WeightBytes / 10e6 * 1000 : 0;
        Near(20 + m0.LastRestore.Value.TotalMilliseconds + disk, availability.EstimateTimeToFirstToken("m0"));
        Near(20, availability.EstimateTimeToFirstToken("m1"));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(3, 0)] // fewer than a batch ahead: the new request joins them
    [InlineData(4, 100)]
    [InlineData(9, 200)]
    public async Task Queue_wait_is_one_service_time_per_full_batch_ahead(int ahead, double waitMs)
    {
        using var models = TestModels.Create(1);
        using var pool = Pool(models, residentModels: 1);
        using (await pool.AcquireAsync("m0", TestContext.Current.CancellationToken))
        {
        }

        var availability = new ServerModelAvailability(pool, m => m == "m0" ? ahead : 0, maxBatchPerModel: 4, Settings);

        Near(20 + waitMs, availability.EstimateTimeToFirstToken("m0"));
    }

    [Fact]
    public void A_model_the_pool_does_not_know_costs_queue_and_prompt_only()
    {
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1 << 20 });
        var availability = new ServerModelAvailability(pool, _ => 8, maxBatchPerModel: 4, Settings);

        Near(220, availability.EstimateTimeToFirstToken("nobody"));
    }
}
