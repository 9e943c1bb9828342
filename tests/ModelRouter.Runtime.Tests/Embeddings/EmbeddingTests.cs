using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using ModelRouter.Runtime.Embeddings;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Tests.Generation;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Embeddings;

public sealed class EmbeddingTests
{
    [Fact]
    public void Token_table_rows_of_an_f32_model_equal_the_file_bytes()
    {
        var path = GgufTestFiles.RequireSharedModel("stories260K.gguf");
        using var table = TokenEmbeddingTable.Open(path);
        using var file = GgufFile.Open(path);
        Assert.True(file.TryGetTensor(TokenEmbeddingTable.TensorName, out var tensor));
        var raw = MemoryMarshal.Cast<byte, float>(file.GetTensorData(tensor));

        Assert.Equal(GgmlType.F32, table.Type);
        Assert.Equal(512, table.TokenCount);
        var row = new float[table.Dimensions];
        foreach (var token in new[] { 0, 1, 100, 511 })
        {
            table.GetRow(token, row);
            Assert.Equal(raw.Slice(token * table.Dimensions, table.Dimensions).ToArray(), row);
        }
    }

    [Fact]
    public void Token_table_rows_of_a_q8_0_model_equal_an_independent_dequantisation()
    {
        var vocab = GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf");
        using var dir = new TempDirectory("embd-q8");
        var path = dir.File("tiny-q8.gguf");
        Assert.True(ForgePresets.TryGet("tiny", out var tiny));
        ModelForge.Forge(new ForgeOptions(tiny, ForgeWeightType.Q8_0) { VocabPath = vocab, Seed = 7 }, path, cancellationToken: TestContext.Current.CancellationToken);

        using var table = TokenEmbeddingTable.Open(path);
        using var file = GgufFile.Open(path);
        Assert.True(file.TryGetTensor(TokenEmbeddingTable.TensorName, out var tensor));
        if (table.Type != GgmlType.Q8_0)
        {
            Assert.Skip($"the forge stores {TokenEmbeddingTable.TensorName} as {table.Type} for Q8_0 models; this test checks Q8_0 rows");
        }

        // Q8_0 block: fp16 scale, then 32 signed bytes; value = scale * q.
        var rowBytes = table.Dimensions / 32 * 34;
        var row = new float[table.Dimensions];
        foreach (var token in new[] { 0, 5, 128_000 })
        {
            table.GetRow(token, row);
            var bytes = file.GetTensorData(tensor).Slice(token * rowBytes, rowBytes);
            for (var i = 0; i < table.Dimensions; i++)
            {
                var block = bytes.Slice(i / 32 * 34, 34);
                var scale = (float)BitConverter.ToHalf(block[..2]);
                Assert.Equal(scale * (sbyte)block[2 + i % 32], row[i]);
            }
        }
    }

    [Fact]
    public void Pooled_embeddings_are_deterministic_normalised_and_tell_texts_apart()
    {
        using var model = StoriesModel.Load();
        using var embedder = TextEmbedder.Create(model, maxTokens: 128, threads: 1);
        Assert.Equal(EmbeddingPooling.Mean, embedder.Pooling);
        Assert.Equal(model.EmbeddingLength, embedder.Dimensions);

        var a = new float[embedder.Dimensions];
        var again = new float[embedder.Dimensions];
        var b = new float[embedder.Dimensions];
        embedder.Embed("The cat sat on the mat.", a);
        embedder.Embed("Lily went to the park to play with her red ball.", b);
        embedder.Embed("The cat sat on the mat.", again);

        Assert.Equal(a, again); // nothing of the previous text leaks into the next
        Assert.Equal(1.0, TensorPrimitives.Norm(a), 4);
        Assert.True(TensorPrimitives.CosineSimilarity(a, b) < 0.9999f);
        Assert.All(a, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Embedding_errors_are_argument_errors_and_leave_the_embedder_usable()
    {
        using var model = StoriesModel.Load();
        using var embedder = TextEmbedder.Create(model, maxTokens: 32, threads: 1);
        var vector = new float[embedder.Dimensions];

        Assert.Throws<ArgumentException>(() => embedder.Embed("short", new float[3]));
        Assert.Throws<ArgumentException>(() => embedder.Embed(string.Concat(Enumerable.Repeat("once upon a time ", 40)), vector));
        embedder.Embed("still works", vector);
        Assert.Equal(1.0, TensorPrimitives.Norm(vector), 4);
    }
}
