using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Forge;

public sealed class ModelForgeTests
{
    [Fact]
    public void Same_seed_gives_identical_bytes_and_another_seed_different_ones()
    {
        var vocab = GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf");
        using var dir = new TempDirectory("forge");
        var options = Tiny(ForgeWeightType.Q4_0, vocab);

        var watch = Stopwatch.StartNew();
        ModelForge.Forge(options with { Seed = 7 }, dir.File("a.gguf"), cancellationToken: TestContext.Current.CancellationToken);
        var elapsed = watch.Elapsed;
        ModelForge.Forge(options with { Seed = 7 }, dir.File("b.gguf"), cancellationToken: TestContext.Current.CancellationToken);
        ModelForge.Forge(options with { Seed = 8 }, dir.File("c.gguf"), cancellationToken: TestContext.Current.CancellationToken);

        var a = Sha256(dir.File("a.gguf"));
        Assert.Equal(a, Sha256(dir.File("b.gguf")));
        Assert.NotEqual(a, Sha256(dir.File("c.gguf")));
        Assert.False(File.Exists(dir.File("a.gguf.partial")));
        TestContext.Current.TestOutputHelper?.WriteLine($"tiny q4_0 forged in {elapsed.TotalMilliseconds:F0} ms, sha256 {a}");
    }

    [Theory]
    [InlineData(ForgeArchitecture.Llama, ForgeWeightType.F16)]
    [InlineData(ForgeArchitecture.Llama, ForgeWeightType.Q8_0)]
    [InlineData(ForgeArchitecture.Qwen2, ForgeWeightType.Q4_0)]
    public void Forged_model_has_the_family_layout_and_passes_validation(ForgeArchitecture architecture, ForgeWeightType type)
    {
        var vocabPath = GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf");
        using var dir = new TempDirectory("forge");
        var path = dir.File("model.gguf");
        var options = Tiny(type, vocabPath) with { Shape = ForgePresets.TryGet("tiny", out var s) ? s with { Architecture = architecture } : throw new InvalidOperationException() };
        var reports = new List<ForgeProgress>();
        var result = ModelForge.Forge(options, path, new SyncProgress(reports.Add), TestContext.Current.CancellationToken);

        GgufValidator.Validate(path);
        using var file = GgufFile.Open(path);
        using var vocab = GgufFile.Open(vocabPath);
        var arch = architecture.ToGgufName();
        Assert.Equal(arch, file.GetString("general.architecture"));
        Assert.Equal(2u, file.GetUInt32($"{arch}.block_count"));
        Assert.Equal(64u, file.GetUInt32($"{arch}.embedding_length"));
        Assert.Equal(2u, file.GetUInt32($"{arch}.attention.head_count_kv"));
        Assert.Equal(type.FileType(), file.GetUInt32("general.file_type"));

        // Every tokenizer key is copied verbatim.
        foreach (var entry in vocab.Metadata.Where(e => e.Key.StartsWith("tokenizer.", StringComparison.Ordinal)))
        {
            Assert.True(file.TryGetMetadata(entry.Key, out var copied));
            Assert.True(vocab.GetEncodedValue(entry).SequenceEqual(file.GetEncodedValue(copied)), entry.Key);
        }

        var perLayer = architecture == ForgeArchitecture.Qwen2 ? 12 : 9;
        Assert.Equal(1 + (2 * perLayer) + 2, file.Tensors.Count);
        Assert.Equal(result.TensorCount, file.Tensors.Count);
        Assert.Equal(result.FileBytes, file.FileLength);
        Assert.True(file.TryGetTensor("token_embd.weight", out var embd));
        Assert.Equal([64L, 128256L], embd.Dimensions.ToArray());
        Assert.Equal(type.MatrixType(), embd.Type);
        Assert.True(file.TryGetTensor("output.weight", out var output));
        Assert.Equal(type.OutputType(), output.Type);
        Assert.Equal(architecture == ForgeArchitecture.Qwen2, file.TryGetTensor("blk.1.attn_k.bias", out _));
        Assert.True(file.TryGetTensor("blk.1.attn_k.weight", out var k));
        Assert.Equal([64L, 32L], k.Dimensions.ToArray());

        var norm = MemoryMarshal.Cast<byte, float>(file.GetTensorData(file.Tensors.Single(t => t.Name == "output_norm.weight")));
        Assert.All(norm.ToArray(), v => Assert.Equal(1f, v));

        Assert.NotEmpty(reports);
        Assert.Equal(result.FileBytes, reports[^1].BytesWritten);
        Assert.Equal(1.0, reports[^1].Fraction);
    }

    [Fact]
    public void F16_weights_have_the_intended_scale()
    {
        using var dir = new TempDirectory("forge");
        var path = dir.File("model.gguf");
        ModelForge.Forge(Tiny(ForgeWeightType.F16, GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf")), path, cancellationToken: TestContext.Current.CancellationToken);
        using var file = GgufFile.Open(path);
        Assert.True(file.TryGetTensor("blk.0.ffn_up.weight", out var up));

        var values = MemoryMarshal.Cast<byte, Half>(file.GetTensorData(up)).ToArray().Select(h => (double)h).ToArray();
        var mean = values.Average();
        var std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, -0.002, 0.002);
        Assert.InRange(std, 0.018, 0.022);
    }

    [Fact]
    public void Presets_include_the_real_shapes()
    {
        Assert.True(ForgePresets.TryGet("qwen2.5-0.5b", out var qwen));
        Assert.Equal(new ModelShape(ForgeArchitecture.Qwen2, 24, 896, 4864, 14, 2, 32768) { RopeTheta = 1_000_000f, RmsNormEpsilon = 1e-6f, TiedEmbeddings = true }, qwen);
        Assert.True(ForgePresets.TryGet("LLAMA-3.2-1B", out var llama1));
        Assert.Equal((16, 2048, 8192, 32, 8, 500_000f, true), (llama1.Layers, llama1.Width, llama1.FeedForward, llama1.Heads, llama1.KvHeads, llama1.RopeTheta, llama1.TiedEmbeddings));
        Assert.True(ForgePresets.TryGet("llama-3.1-8b", out var llama8));
        Assert.Equal((32, 4096, 14336, 32, 8, false), (llama8.Layers, llama8.Width, llama8.FeedForward, llama8.Heads, llama8.KvHeads, llama8.TiedEmbeddings));
        Assert.All(ForgePresets.Names, name =>
        {
            Assert.True(ForgePresets.TryGet(name, out var shape));
            Assert.All(ForgeWeightTypes.All, t => Assert.Null(shape.FindProblem(t)));
        });
    }

    [Fact]
    public void Impossible_shapes_and_missing_vocabularies_are_reported()
    {
        using var dir = new TempDirectory("forge");
        var bad = new ForgeOptions(new ModelShape(ForgeArchitecture.Llama, 2, 48, 128, 4, 2, 512), ForgeWeightType.Q4_0);
        var ex = Assert.Throws<ArgumentException>(() => ModelForge.Forge(bad, dir.File("x.gguf"), cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("multiples of 32", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not a multiple of the KV head count", new ModelShape(ForgeArchitecture.Llama, 2, 64, 128, 4, 3, 512).FindProblem(ForgeWeightType.F16), StringComparison.Ordinal);

        var noVocab = Tiny(ForgeWeightType.F16, dir.File("missing-vocab.gguf"));
        var missing = Assert.Throws<InvalidModelFileException>(() => ModelForge.Forge(noVocab, dir.File("y.gguf"), cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("does not exist", missing.Problem, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("y.gguf")));
    }

    internal static ForgeOptions Tiny(ForgeWeightType type, string vocab) =>
        new(ForgePresets.TryGet("tiny", out var shape) ? shape : throw new InvalidOperationException("no tiny preset"), type) { VocabPath = vocab };

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; would post to the thread pool and race the asserts).</summary>
    private sealed class SyncProgress(Action<ForgeProgress> report) : IProgress<ForgeProgress>
    {
        public void Report(ForgeProgress value) => report(value);
    }
}
