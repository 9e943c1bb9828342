using System.Text;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>
/// Contexts in the budget with real models: what llama.cpp says a context holds is what leaves the process when it is
/// freed, and a budget that fits two models' weights but not a context as well makes the pool evict.
/// </summary>
[Collection(nameof(ProcessMemoryTests))]
public sealed class ContextBudgetTests
{
    // A long context, so that the KV cache (tens of MB) stands far above RSS noise.
    private static readonly ContextOptions LongContext = new() { ContextLength = 4096, BatchSize = 64, Threads = 1 };

    private static readonly ContextOptions Context = new() { ContextLength = 256, BatchSize = 64, Threads = 1 };

    [Fact]
    public void A_contexts_accounted_bytes_leave_the_process_when_it_is_released()
    {
        if (!File.Exists("/proc/self/statm"))
        {
            Assert.Skip("RSS is read from /proc/self/statm (Linux only).");
        }

        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(ForgeArchitecture.Llama));
        using var dir = new TempDirectory("context-rss");
        var path = dir.File("forged-q4_0.gguf");
        var shape = new ModelShape(ForgeArchitecture.Llama, Layers: 8, Width: 512, FeedForward: 1024, Heads: 8, KvHeads: 8, ContextLength: 4096);
        ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q4_0) { VocabPath = vocab, Seed = 11 }, path, cancellationToken: TestContext.Current.CancellationToken);

        using var store = new CpuWeightStore(new ModelRegistration("forged", path));
        store.Restore(TestContext.Current.CancellationToken);
        var beforeContext = ResidentBytes();
        var context = store.GetContext(LongContext);
        var created = ResidentBytes() - beforeContext;
        Generate(context, "Hello", 8); // the compute buffer's pages are touched by decoding, not by creation
        var memory = context.Memory;
        Assert.Equal(ContextMemorySource.LlamaCpp, memory.Source);
        // 8 layers × 4096 cells × (512 K + 512 V) × 2 bytes (f16) = 64 MiB: llama.cpp's figure is the KV cache's size.
        Assert.Equal(8L * 4096 * 1024 * 2, memory.KvBytes);
        Assert.True(memory.ComputeBytes > 0 && memory.OutputBytes > 0, memory.ToString());
        Assert.Equal(memory.TotalBytes, store.ContextBytes);

        // The KV cache is zeroed at creation, so its pages are in RSS at once; the compute buffer is sized for the
        // worst-case batch and a short decode touches only part of it. So what leaves the process lies between the KV
        // cache and output buffer (always touched) and the whole accounted figure, within 4 MiB of noise either way:
        // the accounting errs on the side of counting a buffer llama.cpp has reserved, not one it happens to have used.
        var tolerance = 4L << 20;
        Assert.True(created >= memory.KvBytes - tolerance, $"creating the context added {created} bytes of RSS; its KV cache is {memory.KvBytes}");
        var resident = ResidentBytes();
        store.ReleaseContexts();
        var freed = resident - ResidentBytes();
        TestContext.Current.TestOutputHelper?.WriteLine($"context {memory}, total {memory.TotalBytes}; RSS at creation +{created}, at release -{freed}");
        Assert.Equal(0, store.ContextBytes);
        Assert.True(freed >= memory.KvBytes + memory.OutputBytes - tolerance && freed <= memory.TotalBytes + tolerance,
            $"releasing the context freed {freed} bytes of RSS; accounted {memory} (total {memory.TotalBytes})");
    }

    [Theory]
    [InlineData(false)] // the budget fits both models' weights and a context: nothing is evicted
    [InlineData(true)] // it fits both models' weights but not a context besides: the first model is evicted
    public async Task A_budget_that_fits_two_models_weights_but_not_a_context_evicts_one(bool tight)
    {
        var stories = GgufTestFiles.RequireSharedModel("stories260K.gguf");
        long weights, contextBytes;
        using (var probe = new CpuWeightStore(new ModelRegistration("probe", stories)))
        {
            probe.Restore(TestContext.Current.CancellationToken);
            weights = probe.WeightBytes;
            contextBytes = probe.GetContext(Context).MemoryBytes;
        }

        Assert.True(contextBytes > 0);
        var budget = (2 * weights) + (tight ? contextBytes / 2 : contextBytes * 2);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = budget, StoreFactory = new CpuWeightStoreFactory() });
        pool.Register(new ModelRegistration("a", stories));
        pool.Register(new ModelRegistration("b", stories));
        using (var lease = await pool.AcquireAsync("a", TestContext.Current.CancellationToken))
        {
            Generate(lease.GetContext(Context), "Once upon a time", 4);
        }

        Assert.Equal(weights + contextBytes, pool.ResidentBytes);
        using (var lease = await pool.AcquireAsync("b", TestContext.Current.CancellationToken))
        {
            Assert.NotNull(lease.SwapTime); // b was restored for this lease
        }

        var a = pool.Snapshot().Single(s => s.Name == "a");
        Assert.Equal(tight ? ModelState.Evicted : ModelState.Resident, a.State);
        Assert.Equal(tight ? 1 : 0, a.Evictions);
        Assert.True(pool.ResidentBytes <= budget, $"{pool.ResidentBytes} bytes held over a budget of {budget}");
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
}
