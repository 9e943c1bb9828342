using System.Text;
using ModelRouter.Interop;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;
using ModelRouter.Runtime.Tests.Generation;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>Runs alone: its RSS figures must not include another test's model loading at the same moment.</summary>
[CollectionDefinition(nameof(ProcessMemoryTests), DisableParallelization = true)]
public sealed class ProcessMemoryTests;

/// <summary>
/// The CPU swap region through <see cref="CpuWeightStore"/>: the llama_model and its contexts survive evict/restore,
/// the weights' pages leave the process on evict and come back bit-exact on restore.
/// </summary>
[Collection(nameof(ProcessMemoryTests))]
public sealed class CpuRegionSwapTests
{
    private static readonly ContextOptions Context = new() { ContextLength = 256, BatchSize = 64, Threads = 1 };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Stories_greedy_tokens_equal_the_reference_before_evict_and_after_every_restore(bool mapImage)
    {
        using var store = new CpuWeightStore(new ModelRegistration("stories", GgufTestFiles.RequireSharedModel("stories260K.gguf")),
            new CpuSwapOptions { MapImage = mapImage });
        store.Restore(TestContext.Current.CancellationToken);
        RequireRegion(store);
        var model = store.Model;
        var context = store.GetContext(Context);
        var reference = StoriesModel.ReferenceContinuation();
        Assert.Equal(reference, Generate(store.GetContext(Context), StoriesModel.Prompt, 60));

        for (var cycle = 1; cycle <= 4; cycle++)
        {
            store.Evict();
            Assert.Equal(ModelTier.Warm, store.Tier);
            Assert.Null(store.Model); // the gate: nothing hands the model out while its pages are gone
            Assert.Throws<InvalidOperationException>(() => store.GetContext(Context));

            store.Restore(TestContext.Current.CancellationToken);
            Assert.Same(model, store.Model); // kept, not reloaded
            Assert.Same(context, store.GetContext(Context)); // and so is its context
            Assert.Equal(reference, Generate(store.GetContext(Context), StoriesModel.Prompt, 60));
            var stats = store.Stats()!.Value;
            Assert.Equal((uint)cycle, stats.restore_count);
            Assert.Equal(mr_swap_state.MR_SWAP_RESIDENT, (mr_swap_state)stats.state);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_forged_model_leaves_and_reenters_RSS_by_its_weights_and_decodes_the_same_tokens(bool mapImage)
    {
        if (!File.Exists("/proc/self/statm"))
        {
            Assert.Skip("RSS is read from /proc/self/statm (Linux only).");
        }

        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(ForgeArchitecture.Llama));
        using var dir = new TempDirectory("cpu-region-rss");
        var path = dir.File("forged-q4_0.gguf");
        // Big enough that its weights (tens of MB) stand far above RSS noise, small enough to forge and load in seconds.
        var shape = new ModelShape(ForgeArchitecture.Llama, Layers: 4, Width: 256, FeedForward: 1024, Heads: 4, KvHeads: 2, ContextLength: 512);
        ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q4_0) { VocabPath = vocab, Seed = 7 }, path, cancellationToken: TestContext.Current.CancellationToken);

        var factory = new RecordingFactory(new CpuSwapOptions { MapImage = mapImage });
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30, StoreFactory = factory });
        pool.Register(new ModelRegistration("forged", path));
        string before;
        long contextBytes;
        using (var lease = await pool.AcquireAsync("forged", TestContext.Current.CancellationToken))
        {
            var context = lease.GetContext(Context);
            Assert.Equal(ContextMemorySource.LlamaCpp, context.Memory.Source); // llama.cpp's own buffer sizes, not an estimate
            contextBytes = context.MemoryBytes;
            before = Generate(context, "Hello", 16);
        }

        var store = factory.Store!;
        RequireRegion(store);
        var weights = (long)store.Stats()!.Value.weight_bytes;
        Assert.True(weights > 16L << 20, $"the forged model's weights are only {weights} bytes: too small to measure");
        Assert.Equal(weights, store.WeightBytes);
        Assert.True(contextBytes > 0);
        Assert.Equal(contextBytes, store.ContextBytes);
        Assert.Equal(weights + contextBytes, pool.ResidentBytes); // the budget counts what the region and the context hold

        // Tolerance: 10% of the weights plus 4 MiB, for whatever the runtime allocates or frees meanwhile.
        var tolerance = weights / 10 + (4L << 20);
        for (var cycle = 0; cycle < 3; cycle++)
        {
            var resident = ResidentBytes();
            var accounted = pool.ResidentBytes;
            Assert.True(await pool.TryEvictAsync("forged", TestContext.Current.CancellationToken));
            var evicted = ResidentBytes();
            var released = accounted - pool.ResidentBytes;
            Assert.Equal(weights, released); // the context survives evict, and is still counted: it still holds its memory
            Assert.Equal(contextBytes, pool.ResidentBytes);
            TestContext.Current.TestOutputHelper?.WriteLine($"map {mapImage} cycle {cycle}: weights {weights}, context {contextBytes}; evict accounted -{released}, RSS -{resident - evicted}");
            Assert.True(Math.Abs(resident - evicted - released) <= tolerance,
                $"evict freed {resident - evicted} bytes of RSS; the pool accounted {released} (cycle {cycle}, tolerance {tolerance})");

            using var lease = await pool.AcquireAsync("forged", TestContext.Current.CancellationToken);
            var restored = ResidentBytes();
            Assert.True(restored - evicted >= weights - tolerance, $"restore brought back {restored - evicted} bytes of RSS; the weights are {weights} (cycle {cycle})");
            Assert.Equal(weights + contextBytes, pool.ResidentBytes);
            Assert.Equal(before, Generate(lease.GetContext(Context), "Hello", 16));
        }
    }

    [Fact]
    public async Task With_the_page_pool_evict_keeps_the_pages_and_restore_takes_them_back_without_a_fresh_page()
    {
        var path = ForgeSmallModel(out var dir);
        using var _ = dir;
        var factory = new RecordingFactory(new CpuSwapOptions());
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30, StoreFactory = factory });
        pool.Register(new ModelRegistration("forged", path));
        string before;
        using (var lease = await pool.AcquireAsync("forged", TestContext.Current.CancellationToken))
        {
            before = Generate(lease.GetContext(Context), "Hello", 16);
        }

        RequireRegion(factory.Store!);
        var weights = (long)factory.Store!.Stats()!.Value.weight_bytes;
        Assert.True(CpuPagePool.SetLimit(1L << 30));
        try
        {
            for (var cycle = 0; cycle < 3; cycle++)
            {
                var start = CpuPagePool.Read()!.Value;
                Assert.True(await pool.TryEvictAsync("forged", TestContext.Current.CancellationToken));
                var evicted = CpuPagePool.Read()!.Value;
                // Every committed page went to the pool (the gaps before 2 MiB-aligned buffers were never committed).
                Assert.Equal(start.CommittedBytes, evicted.PooledBytes - start.PooledBytes);
                Assert.Equal(0, evicted.CommittedBytes);
                Assert.InRange(evicted.PooledBytes, weights - (8L << 20), weights);

                using var lease = await pool.AcquireAsync("forged", TestContext.Current.CancellationToken);
                var restored = CpuPagePool.Read()!.Value;
                var stats = factory.Store.Stats()!.Value;
                Assert.Equal(evicted.PooledBytes, (long)stats.last_restore_reused_bytes); // all of it back from the pool
                Assert.Equal(evicted.FreshBytes, restored.FreshBytes); // and no fresh page
                Assert.Equal(0, restored.PooledBytes);
                Assert.True(stats.last_restore_commit_ms <= stats.last_restore_ms);
                Assert.Equal(before, Generate(lease.GetContext(Context), "Hello", 16));
                TestContext.Current.TestOutputHelper?.WriteLine($"cycle {cycle}: restore {stats.last_restore_ms:F2} ms, of which commit {stats.last_restore_commit_ms:F3} ms");
            }
        }
        finally
        {
            CpuPagePool.SetLimit(0); // the process-wide default: the RSS tests beside this one expect evict to free pages
        }

        Assert.Equal(0, CpuPagePool.Read()!.Value.PooledBytes);
    }

    private static string ForgeSmallModel(out TempDirectory dir)
    {
        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(ForgeArchitecture.Llama));
        dir = new TempDirectory("cpu-page-pool");
        var path = dir.File("forged-q4_0.gguf");
        var shape = new ModelShape(ForgeArchitecture.Llama, Layers: 4, Width: 256, FeedForward: 1024, Heads: 4, KvHeads: 2, ContextLength: 512);
        ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q4_0) { VocabPath = vocab, Seed = 7 }, path, cancellationToken: TestContext.Current.CancellationToken);
        return path;
    }

    private static void RequireRegion(CpuWeightStore store)
    {
        if (!store.UsesRegion)
        {
            Assert.Skip("This native build has no CPU swap region (CPU builds on Linux only): the store reloads instead.");
        }
    }

    private static long ResidentBytes()
    {
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }

    private static string Generate(InferenceContext context, string prompt, int tokens)
    {
        var text = new StringBuilder();
        TextGenerator.Generate(context, new GenerationRequest(prompt) { MaxTokens = tokens }, u => text.Append(Encoding.UTF8.GetString(u)));
        return text.ToString();
    }

    private sealed class RecordingFactory(CpuSwapOptions options) : IWeightStoreFactory
    {
        public CpuWeightStore? Store { get; private set; }

        public IWeightStore Create(ModelRegistration registration) => Store = new CpuWeightStore(registration, options);
    }
}
