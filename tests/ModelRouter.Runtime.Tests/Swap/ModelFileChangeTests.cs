using System.Text;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>
/// Model files that change under a running pool (issue 16, point 6): truncated, rewritten in place, replaced or
/// deleted, the process never crashes (a mapping of the file would fault with SIGBUS and kill the test host) and never
/// serves the changed file's bytes silently: the model fails naming the file, or with ReloadOnChange serves the new file.
/// </summary>
public sealed class ModelFileChangeTests
{
    private static readonly ContextOptions Context = new() { ContextLength = 128, BatchSize = 32, Threads = 1 };
    private static readonly DateTime Fixed = new(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    [Fact]
    public void The_identity_notices_truncation_a_rewrite_a_content_only_change_a_replacement_and_deletion()
    {
        using var dir = new TempDirectory("file-identity");
        var (a, b) = ForgeTwo(dir);
        var path = dir.File("m.gguf");
        File.Copy(a, path);
        File.SetLastWriteTimeUtc(path, Fixed);
        var identity = ModelFileIdentity.Capture(path);
        Assert.Null(identity.DescribeChange(thorough: true));

        // Rewritten in place with another model of the same size and the mtime put back: only the content check sees it.
        CopyInPlace(b, path);
        File.SetLastWriteTimeUtc(path, Fixed);
        Assert.Null(identity.DescribeChange(thorough: false));
        var content = identity.DescribeChange(thorough: true);
        Assert.NotNull(content);
        Assert.Contains(path, content, StringComparison.Ordinal);
        Assert.Contains("content check differs", content, StringComparison.Ordinal);

        // Rewritten in place, mtime left as the write set it.
        CopyInPlace(a, path);
        Assert.Contains("last written", identity.DescribeChange(thorough: false), StringComparison.Ordinal);
        File.SetLastWriteTimeUtc(path, Fixed);
        Assert.Null(identity.DescribeChange(thorough: true)); // the very bytes and stat again: unchanged

        Truncate(path);
        Assert.Contains("(truncated)", identity.DescribeChange(thorough: false), StringComparison.Ordinal);

        // Replaced (renamed over, as a deploy would) by another file of the same bytes and mtime: only the inode differs.
        var replacement = dir.File("replacement.gguf");
        File.Copy(a, replacement);
        File.SetLastWriteTimeUtc(replacement, Fixed);
        File.Move(replacement, path, overwrite: true);
        if (OperatingSystem.IsLinux())
        {
            Assert.NotEqual(0UL, identity.Inode); // statx answered
            Assert.Contains("another file now has its name", identity.DescribeChange(thorough: false), StringComparison.Ordinal);
        }

        File.Delete(path);
        Assert.Equal($"its file '{path}' no longer exists", identity.DescribeChange(thorough: false));
    }

    [Fact]
    public void The_content_check_samples_at_most_a_MiB_first_and_last_block_included()
    {
        var block = ModelFileIdentity.BlockBytes;
        Assert.Equal([0L, block, 2L * block], ModelFileIdentity.SampleOffsets((2L * block) + 10));
        var length = 10L << 30;
        var offsets = ModelFileIdentity.SampleOffsets(length).ToList();
        Assert.Equal(ModelFileIdentity.SampleBlocks, offsets.Count);
        Assert.Equal(0, offsets[0]);
        Assert.Equal(length - block, offsets[^1]);
        Assert.True(offsets.Count * (long)block <= 1L << 20);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_model_whose_file_is_truncated_fails_naming_the_file_and_the_other_model_keeps_answering(bool evictFirst)
    {
        using var dir = new TempDirectory("file-truncated");
        var (a, b) = ForgeTwo(dir);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("changing", a));
        pool.Register(new ModelRegistration("other", b));
        string other;
        using (var lease = await pool.AcquireAsync("changing", TestContext.Current.CancellationToken))
        {
            Generate(lease);
        }

        using (var lease = await pool.AcquireAsync("other", TestContext.Current.CancellationToken))
        {
            other = Generate(lease);
        }

        if (evictFirst)
        {
            Assert.True(await pool.TryEvictAsync("changing", TestContext.Current.CancellationToken)); // the host image is its warm tier
        }

        Truncate(a); // in place, same inode: a mapping of it would now fault past the new end

        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("changing", TestContext.Current.CancellationToken));
        Assert.Contains(a, ex.Problem, StringComparison.Ordinal);
        Assert.Contains("(truncated)", ex.Problem, StringComparison.Ordinal);
        Assert.True(pool.TryGetStatus("changing", out var status));
        Assert.Equal(ModelState.Failed, status!.State);
        Assert.Equal(ModelTier.Cold, status.Tier); // what was made from the old file is dropped
        Assert.Contains(a, status.LastError, StringComparison.Ordinal);
        Assert.Equal(0, pool.WeightBytes - pool.Snapshot().Single(s => s.Name == "other").WeightBytes);

        // Asked again: still failed, still named; the other model answers as before.
        await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("changing", TestContext.Current.CancellationToken));
        using var again = await pool.AcquireAsync("other", TestContext.Current.CancellationToken);
        Assert.Equal(other, Generate(again));
    }

    [Fact]
    public async Task A_file_rewritten_in_place_with_another_model_of_the_same_size_is_never_served()
    {
        using var dir = new TempDirectory("file-rewritten");
        var (a, b) = ForgeTwo(dir);
        var path = dir.File("served.gguf");
        File.Copy(a, path);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("m", path));
        await pool.PrefetchAsync("m", cancellation: TestContext.Current.CancellationToken); // warm, never loaded

        CopyInPlace(b, path);

        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("m", TestContext.Current.CancellationToken));
        Assert.Contains(path, ex.Problem, StringComparison.Ordinal);
        Assert.True(pool.TryGetStatus("m", out var status));
        Assert.Equal(ModelState.Failed, status!.State);
        Assert.Equal(0, status.Restores);
    }

    [Fact]
    public async Task A_content_only_change_is_caught_before_the_file_is_read()
    {
        using var dir = new TempDirectory("file-content");
        var (a, b) = ForgeTwo(dir);
        var path = dir.File("served.gguf");
        File.Copy(a, path);
        File.SetLastWriteTimeUtc(path, Fixed);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("m", path));

        CopyInPlace(b, path);
        File.SetLastWriteTimeUtc(path, Fixed); // size, mtime and inode as registered: only the bytes differ

        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("m", TestContext.Current.CancellationToken));
        Assert.Contains("content check differs", ex.Problem, StringComparison.Ordinal);
        Assert.IsType<ModelFileChangedException>(ex.InnerException);
        Assert.True(pool.TryGetStatus("m", out var status));
        Assert.Equal(ModelState.Failed, status!.State);
        Assert.Equal(0, status.Restores);
    }

    [Fact]
    public async Task A_deleted_file_is_reported_and_a_file_put_back_as_it_was_serves_again()
    {
        using var dir = new TempDirectory("file-deleted");
        var (a, _) = ForgeTwo(dir);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("m", a));
        string before;
        using (var lease = await pool.AcquireAsync("m", TestContext.Current.CancellationToken))
        {
            before = Generate(lease);
        }

        var aside = dir.File("aside.gguf");
        File.Move(a, aside); // gone from its path (a rename keeps the inode and mtime)
        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("m", TestContext.Current.CancellationToken));
        Assert.Contains($"its file '{a}' no longer exists", ex.Problem, StringComparison.Ordinal);

        File.Move(aside, a); // back exactly as it was: it loads again, from the file
        using var again = await pool.AcquireAsync("m", TestContext.Current.CancellationToken);
        Assert.Equal(before, Generate(again));
        Assert.True(pool.TryGetStatus("m", out var status));
        Assert.Equal(2, status!.Restores);
        Assert.Null(status.LastError);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task With_ReloadOnChange_a_changed_file_is_reloaded_and_its_new_weights_served(bool evictFirst)
    {
        using var dir = new TempDirectory("file-reload");
        var (a, b) = ForgeTwo(dir);
        var path = dir.File("served.gguf");
        File.Copy(a, path);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("m", path) { ReloadOnChange = true });
        pool.Register(new ModelRegistration("b", b));
        string fromA, fromB;
        using (var lease = await pool.AcquireAsync("m", TestContext.Current.CancellationToken))
        {
            fromA = Generate(lease);
        }

        using (var lease = await pool.AcquireAsync("b", TestContext.Current.CancellationToken))
        {
            fromB = Generate(lease);
        }

        Assert.NotEqual(fromA, fromB); // else the test could not tell the weights apart
        if (evictFirst)
        {
            Assert.True(await pool.TryEvictAsync("m", TestContext.Current.CancellationToken));
        }

        CopyInPlace(b, path);

        using (var lease = await pool.AcquireAsync("m", TestContext.Current.CancellationToken))
        {
            Assert.Equal(fromB, Generate(lease));
        }

        Assert.True(pool.TryGetStatus("m", out var status));
        Assert.Equal(1, status!.FileReloads);
        Assert.Equal(ModelState.Resident, status.State);

        // Truncated now: the reload validates the new file and refuses it; the model fails naming the file.
        Truncate(path);
        var ex = await Assert.ThrowsAsync<ModelUnavailableException>(async () => await pool.AcquireAsync("m", TestContext.Current.CancellationToken));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidModelFileException>(ex.InnerException);
        using var other = await pool.AcquireAsync("b", TestContext.Current.CancellationToken);
        Assert.Equal(fromB, Generate(other));
    }

    [Fact]
    public async Task With_ReloadOnChange_the_reload_waits_for_the_open_lease_which_keeps_decoding_its_own_copy()
    {
        using var dir = new TempDirectory("file-reload-lease");
        var (a, b) = ForgeTwo(dir);
        var path = dir.File("served.gguf");
        File.Copy(a, path);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("m", path) { ReloadOnChange = true });
        var held = await pool.AcquireAsync("m", TestContext.Current.CancellationToken);
        var fromA = Generate(held);

        CopyInPlace(b, path);
        var reloading = pool.AcquireAsync("m", TestContext.Current.CancellationToken).AsTask();
        Assert.Equal(fromA, Generate(held)); // the open lease decodes from memory the pool owns, not from the file
        Assert.False(reloading.IsCompleted);
        held.Dispose();

        using var lease = await reloading.WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
        Assert.NotEqual(fromA, Generate(lease));
    }

    [Fact]
    public async Task Served_models_keep_no_mapping_of_their_file()
    {
        if (!File.Exists("/proc/self/maps"))
        {
            Assert.Skip("Mappings are read from /proc/self/maps (Linux only).");
        }

        using var dir = new TempDirectory("file-unmapped");
        var (a, b) = ForgeTwo(dir);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 30 });
        pool.Register(new ModelRegistration("a", a));
        pool.Register(new ModelRegistration("b", b));
        await pool.PrefetchAsync("b", cancellation: TestContext.Current.CancellationToken);
        using var lease = await pool.AcquireAsync("a", TestContext.Current.CancellationToken);
        Generate(lease);

        var maps = await File.ReadAllTextAsync("/proc/self/maps", TestContext.Current.CancellationToken);
        Assert.DoesNotContain(a, maps, StringComparison.Ordinal); // resident
        Assert.DoesNotContain(b, maps, StringComparison.Ordinal); // warm (read into the page cache, not mapped)
    }

    /// <summary>Two tiny forged Llama models of the same size (same shape and vocabulary) whose weights differ (seeds).</summary>
    private static (string A, string B) ForgeTwo(TempDirectory dir)
    {
        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(ForgeArchitecture.Llama));
        var shape = ForgePresets.TryGet("tiny", out var tiny) ? tiny : throw new InvalidOperationException("no tiny preset");
        var a = dir.File("a.gguf");
        var b = dir.File("b.gguf");
        ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q8_0) { VocabPath = vocab, Seed = 7 }, a, cancellationToken: TestContext.Current.CancellationToken);
        ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q8_0) { VocabPath = vocab, Seed = 8 }, b, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(new FileInfo(a).Length, new FileInfo(b).Length);
        return (a, b);
    }

    /// <summary>Overwrites <paramref name="target"/> in place (same inode) with the bytes of <paramref name="source"/>.</summary>
    private static void CopyInPlace(string source, string target)
    {
        var bytes = File.ReadAllBytes(source);
        using var stream = new FileStream(target, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        stream.Write(bytes);
        stream.SetLength(bytes.Length);
    }

    /// <summary>Cuts the file to half its size in place (same inode), as a copy still in progress or a full disk would.</summary>
    private static void Truncate(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        stream.SetLength(stream.Length / 2);
    }

    private static string Generate(ModelLease lease)
    {
        var text = new StringBuilder();
        TextGenerator.Generate(lease.GetContext(Context), new GenerationRequest("Hello there") { MaxTokens = 12 }, u => text.Append(Encoding.UTF8.GetString(u)));
        return text.ToString();
    }
}
