using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;
using ModelRouter.Runtime.Tests.Generation;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>
/// KV that survives a swap: a model evicted and restored through the pool, whose context the pool released for room in
/// between, starts its new context with the old one's cached sequences (saved to host memory), so the next turn of a
/// conversation is still a prefix-cache hit, with the same greedy output.
/// </summary>
public sealed class PrefixSwapTests
{
    private static readonly ContextOptions Options = new() { ContextLength = 512, BatchSize = 64, Threads = 1, HostKvBudgetBytes = 64L << 20 };
    private const string Turn1 = "Once upon a time there was a little girl named Lily. She loved to play";

    [Fact]
    public async Task After_evict_context_release_and_restore_the_next_turn_reuses_the_saved_cells_and_answers_the_same()
    {
        var (answer, first) = await InPoolAsync(lease => PrefixCacheTests.Run(lease.GetContext(Options), Turn1, 30));
        var turn2 = Turn1 + answer + " One day she";
        using var model = StoriesModel.Load();
        using var cold = InferenceContext.Create(model, Options with { PrefixCacheTokens = 0 });
        var expected = PrefixCacheTests.Run(cold, turn2, 30).Text;

        var (released, result) = await SwapBetweenTurnsAsync(Options, turn2);

        Assert.True(released > 0, "the pool never released the evicted model's context: the test did not exercise the save");
        Assert.Equal(expected, result.Text);
        Assert.True(result.Result.CachedPromptTokens >= first.PromptTokens, $"{result.Result.CachedPromptTokens} cached; turn 1's prompt had {first.PromptTokens} tokens");
    }

    [Fact]
    public async Task Without_a_host_budget_the_released_context_keeps_nothing()
    {
        var options = Options with { HostKvBudgetBytes = 0 };
        var (answer, _) = await InPoolAsync(lease => PrefixCacheTests.Run(lease.GetContext(options), Turn1, 30));

        var (released, result) = await SwapBetweenTurnsAsync(options, Turn1 + answer + " One day she");

        Assert.True(released > 0);
        Assert.Equal(0, result.Result.CachedPromptTokens);
    }

    [Fact]
    public void A_saved_context_puts_its_hottest_sequences_back_within_the_host_budget()
    {
        using var model = StoriesModel.Load();
        var options = Options with { MaxSequences = 2, ContextLength = 1024 };
        SavedPrefixes all, one;
        using (var context = InferenceContext.Create(model, options))
        {
            PrefixCacheTests.Run(context, "The little dog ran to the tree and saw a cat", 10);
            PrefixCacheTests.Run(context, Turn1, 10); // the hottest
            all = context.Prefixes.Save(long.MaxValue)!;
            one = context.Prefixes.Save(all.Bytes - 1)!; // the hottest (and longer) one fits, both do not
        }

        Assert.Equal(2, all.Count);
        Assert.Equal(1, one.Count);
        using var fresh = InferenceContext.Create(model, options);
        Assert.Equal(1, fresh.Prefixes.Load(one));
        var (_, again) = PrefixCacheTests.Run(fresh, Turn1, 10);
        Assert.Equal(again.PromptTokens - 1, again.CachedPromptTokens);
    }

    /// <summary>Turn 2 after: evict, then a restore under a budget that the evicted model's own context does not fit beside its weights.</summary>
    private static async Task<(int Releases, (string Text, GenerationResult Result) Turn)> SwapBetweenTurnsAsync(ContextOptions options, string turn2)
    {
        var cancel = TestContext.Current.CancellationToken;
        var measured = await MeasureAsync(options);
        // The weights fit, the weights and the context do not: restoring the model releases its context first.
        using var pool = NewPool(measured.Weights + (measured.Context / 2));
        using (var lease = await pool.AcquireAsync("stories", cancel))
        {
            PrefixCacheTests.Run(lease.GetContext(options), Turn1, 30);
        }

        Assert.True(await pool.TryEvictAsync("stories", cancel));
        using var restored = await pool.AcquireAsync("stories", cancel);
        var turn = PrefixCacheTests.Run(restored.GetContext(options), turn2, 30);
        return (pool.Snapshot().Single().ContextReleases, turn);
    }

    private static async Task<(long Weights, long Context)> MeasureAsync(ContextOptions options)
    {
        using var pool = NewPool(1L << 40);
        using var lease = await pool.AcquireAsync("stories", TestContext.Current.CancellationToken);
        lease.GetContext(options);
        return (pool.WeightBytes, pool.ContextBytes);
    }

    private static async Task<(string Text, GenerationResult Result)> InPoolAsync(Func<ModelLease, (string, GenerationResult)> work)
    {
        using var pool = NewPool(1L << 40);
        using var lease = await pool.AcquireAsync("stories", TestContext.Current.CancellationToken);
        return work(lease);
    }

    private static ModelPool NewPool(long budget)
    {
        var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = budget });
        pool.Register(new ModelRegistration("stories", GgufTestFiles.RequireSharedModel("stories260K.gguf")));
        return pool;
    }
}
