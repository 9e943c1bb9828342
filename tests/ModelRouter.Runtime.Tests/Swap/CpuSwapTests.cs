using System.Text;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;
using ModelRouter.Runtime.Tests.Generation;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>The CPU path end to end: real models through the pool, swapped many times.</summary>
public sealed class CpuSwapTests
{
    private static readonly ContextOptions Context = new() { ContextLength = 256, BatchSize = 64, Threads = 1 };

    [Fact]
    public async Task Greedy_tokens_after_many_evict_restore_cycles_equal_the_tokens_before()
    {
        using var dir = new TempDirectory("swap-cycles");
        var source = GgufTestFiles.RequireSharedModel("stories260K.gguf");
        var a = dir.File("a.gguf");
        var b = dir.File("b.gguf");
        File.Copy(source, a);
        File.Copy(source, b);
        var reference = StoriesModel.ReferenceContinuation();

        // Budget for one model: every acquire of the other evicts.
        var size = new CpuWeightStore(new ModelRegistration("probe", a)).WeightBytes;
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = size + size / 2 });
        pool.Register(new ModelRegistration("a", a));
        pool.Register(new ModelRegistration("b", b));

        for (var cycle = 0; cycle < 6; cycle++)
        {
            var name = cycle % 2 == 0 ? "a" : "b";
            using var lease = await pool.AcquireAsync(name, TestContext.Current.CancellationToken);
            Assert.Equal(reference, Generate(lease));
            Assert.True(pool.TryGetStatus(cycle % 2 == 0 ? "b" : "a", out var other));
            Assert.NotEqual(ModelState.Resident, other!.State);
        }

        Assert.True(pool.TryGetStatus("a", out var status));
        Assert.Equal(3, status!.Restores);
        Assert.True(status.Evictions >= 2);
        Assert.Equal(ModelTier.Warm, status.Tier); // evicted to the warm tier, never dropped to disk
    }

    [Fact]
    public async Task Two_context_sizes_for_the_same_weights_never_reload()
    {
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("m", GgufTestFiles.RequireSharedModel("stories260K.gguf")));

        using (var lease = await pool.AcquireAsync("m", TestContext.Current.CancellationToken))
        {
            Assert.NotSame(lease.GetContext(Context), lease.GetContext(Context with { ContextLength = 512 }));
            Assert.Same(lease.GetContext(Context), lease.GetContext(Context));
        }

        using (var again = await pool.AcquireAsync("m", TestContext.Current.CancellationToken))
        {
            Assert.Null(again.SwapTime);
        }

        Assert.True(pool.TryGetStatus("m", out var status));
        Assert.Equal(1, status!.Restores);
    }

    [Fact]
    public async Task A_file_deleted_while_warm_fails_clearly_and_the_pool_stays_healthy()
    {
        using var dir = new TempDirectory("swap-deleted");
        var path = dir.File("gone.gguf");
        File.Copy(GgufTestFiles.RequireSharedModel("stories260K.gguf"), path);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("gone", path));
        pool.Register(new ModelRegistration("ok", GgufTestFiles.RequireSharedModel("stories260K.gguf")));
        await pool.PrefetchAsync("gone", cancellation: TestContext.Current.CancellationToken);

        File.Delete(path);
        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("gone", TestContext.Current.CancellationToken));

        Assert.Contains("no longer exists", ex.Message, StringComparison.Ordinal);
        Assert.True(pool.TryGetStatus("gone", out var status));
        Assert.Equal(ModelState.Failed, status!.State);
        using var ok = await pool.AcquireAsync("ok", TestContext.Current.CancellationToken);
        Assert.Equal(StoriesModel.ReferenceContinuation(), Generate(ok));
    }

    [Fact]
    public async Task A_file_replaced_while_warm_is_reloaded_from_the_new_file_after_validation_with_ReloadOnChange()
    {
        using var dir = new TempDirectory("swap-replaced");
        var path = dir.File("m.gguf");
        var good = GgufTestFiles.RequireSharedModel("stories260K.gguf");
        File.Copy(good, path);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("m", path) { ReloadOnChange = true }); // without it: Failed (ModelFileChangeTests)
        await pool.PrefetchAsync("m", cancellation: TestContext.Current.CancellationToken);

        // Replaced by a truncated copy: the restore must notice, re-validate and refuse it.
        var bytes = await File.ReadAllBytesAsync(good, TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(path, bytes.AsMemory(0, bytes.Length / 2), TestContext.Current.CancellationToken);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("m", TestContext.Current.CancellationToken));
        Assert.IsType<InvalidModelFileException>(ex.InnerException);

        // Put the good file back: the next acquire loads it.
        File.Copy(good, path, overwrite: true);
        using var lease = await pool.AcquireAsync("m", TestContext.Current.CancellationToken);
        Assert.Equal(StoriesModel.ReferenceContinuation(), Generate(lease));
    }

    private static string Generate(ModelLease lease)
    {
        var context = lease.GetContext(Context);
        var text = new StringBuilder();
        TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 60 }, u => text.Append(Encoding.UTF8.GetString(u)));
        return text.ToString();
    }
}
