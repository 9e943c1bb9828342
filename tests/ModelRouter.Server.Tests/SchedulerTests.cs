using Microsoft.Extensions.Logging.Abstractions;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Tests;

public sealed class SchedulerTests
{
    private static readonly SchedulerOptions Options = new() { MaxBatchPerModel = 4, ContextPerSequence = 128, Threads = 1, QueueCapacityPerModel = 64 };

    private static (ModelPool Pool, Scheduler Scheduler, ServerMetrics Metrics) Start(TestModels models, long budgetModels, SchedulerOptions? options = null)
    {
        var size = new CpuWeightStore(new ModelRegistration("probe", models.Paths[0])).WeightBytes;
        var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = size * budgetModels + size / 2 });
        var names = new List<string>();
        for (var i = 0; i < models.Paths.Count; i++)
        {
            pool.Register(new ModelRegistration($"m{i}", models.Paths[i]));
            names.Add($"m{i}");
        }

        var metrics = new ServerMetrics();
        return (pool, new Scheduler(pool, names, options ?? Options, metrics, NullLogger<Scheduler>.Instance), metrics);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Many_concurrent_requests_across_models_with_forced_swaps_all_complete_unmixed()
    {
        using var models = TestModels.Create(3);
        var (pool, scheduler, metrics) = Start(models, budgetModels: 1);
        using var poolScope = pool;
        using var metricsScope = metrics;
        await using var schedulerScope = scheduler; // disposed first: workers stop before the pool goes
        var sink = new RecordingSink();
        var reference = TestModels.Reference(60);

        var ids = Enumerable.Range(1, 24).Select(i => (ulong)i).ToList();
        foreach (var id in ids)
        {
            var request = new InferenceRequest(id, $"m{id % 3}", new GenerationRequest(TestModels.Prompt) { MaxTokens = 60 }, sink, CancellationToken.None);
            Assert.True(scheduler.TrySubmit(request, out _, out var message), message);
        }

        var outcomes = await Task.WhenAll(ids.Select(sink.WhenDone)).WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);

        Assert.All(outcomes, o =>
        {
            Assert.Null(o.Error);
            Assert.Equal(reference, o.Text);
            Assert.Equal(FinishReason.MaxTokens, o.Stats!.FinishReason);
        });
        Assert.All(pool.Snapshot(), s => Assert.True(s.Restores >= 1, $"{s.Name} was never restored"));
        Assert.Contains(outcomes, o => o.Stats!.SwapTime is not null);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_full_queue_refuses_new_requests_as_overloaded()
    {
        using var models = TestModels.Create(1);
        var (pool, scheduler, metrics) = Start(models, budgetModels: 1, Options with { QueueCapacityPerModel = 2, MaxBatchPerModel = 1 });
        using var poolScope = pool;
        using var metricsScope = metrics;
        await using var schedulerScope = scheduler; // disposed first: workers stop before the pool goes
        var sink = new RecordingSink();

        var refused = 0;
        for (ulong id = 1; id <= 20; id++)
        {
            if (!scheduler.TrySubmit(new InferenceRequest(id, "m0", new GenerationRequest(TestModels.Prompt) { MaxTokens = 200 }, sink, CancellationToken.None), out var error, out _))
            {
                Assert.Equal(RequestError.Overloaded, error);
                refused++;
            }
        }

        Assert.True(refused > 0);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Unknown_models_are_refused_with_the_known_ones_named()
    {
        using var models = TestModels.Create(1);
        var (pool, scheduler, metrics) = Start(models, budgetModels: 1);
        using var poolScope = pool;
        using var metricsScope = metrics;
        await using var schedulerScope = scheduler; // disposed first: workers stop before the pool goes

        Assert.False(scheduler.TrySubmit(new InferenceRequest(1, "nope", new GenerationRequest("x"), new RecordingSink(), CancellationToken.None), out var error, out var message));
        Assert.Equal(RequestError.UnknownModel, error);
        Assert.Contains("m0", message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Cancelling_a_request_stops_it_and_the_others_in_its_batch_continue()
    {
        using var models = TestModels.Create(1);
        var (pool, scheduler, metrics) = Start(models, budgetModels: 1);
        using var poolScope = pool;
        using var metricsScope = metrics;
        await using var schedulerScope = scheduler; // disposed first: workers stop before the pool goes
        var sink = new RecordingSink();
        using var cts = new CancellationTokenSource();
        sink.OnChunk = (id, length) =>
        {
            if (id == 1 && length > 10)
            {
                cts.Cancel();
            }
        };

        Assert.True(scheduler.TrySubmit(new InferenceRequest(1, "m0", new GenerationRequest(TestModels.Prompt) { MaxTokens = 60 }, sink, cts.Token), out _, out _));
        Assert.True(scheduler.TrySubmit(new InferenceRequest(2, "m0", new GenerationRequest(TestModels.Prompt) { MaxTokens = 60 }, sink, CancellationToken.None), out _, out _));

        var cancelled = await sink.WhenDone(1).WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
        var other = await sink.WhenDone(2).WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);

        Assert.True(cancelled.Stats?.FinishReason == FinishReason.Cancelled || cancelled.Error == RequestError.Cancelled);
        Assert.Equal(TestModels.Reference(60), other.Text);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Draining_finishes_accepted_requests_and_refuses_new_ones()
    {
        using var models = TestModels.Create(1);
        var (pool, scheduler, metrics) = Start(models, budgetModels: 1);
        using var poolScope = pool;
        using var metricsScope = metrics;
        var sink = new RecordingSink();
        for (ulong id = 1; id <= 6; id++)
        {
            Assert.True(scheduler.TrySubmit(new InferenceRequest(id, "m0", new GenerationRequest(TestModels.Prompt) { MaxTokens = 60 }, sink, CancellationToken.None), out _, out _));
        }

        await scheduler.DrainAsync(TestContext.Current.CancellationToken);

        for (ulong id = 1; id <= 6; id++)
        {
            var done = sink.WhenDone(id);
            Assert.True(done.IsCompletedSuccessfully);
            Assert.Equal(TestModels.Reference(60), (await done).Text);
        }

        Assert.False(scheduler.TrySubmit(new InferenceRequest(7, "m0", new GenerationRequest(TestModels.Prompt), sink, CancellationToken.None), out var error, out _));
        Assert.Equal(RequestError.ShuttingDown, error);
        await scheduler.DisposeAsync();
    }
}
