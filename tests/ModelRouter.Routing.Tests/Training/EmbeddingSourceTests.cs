using System.Text;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Embeddings;
using ModelRouter.Routing.Features;
using ModelRouter.Routing.Text;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Training;

public sealed class EmbeddingSourceTests
{
    private static readonly TrainerOptions Options = new() { Seed = 2, MaxEpochs = 8, Features = new FeatureSettings { HashBits = 14 } };

    [Fact]
    public void WordVectorsAreCopiedFoldedAndUsed()
    {
        using var dir = new TempDirectory();
        var table = dir.File("tiny.mrwv");
        WriteTinyTable(table);
        using var vectors = WordVectorFile.Open(table);
        Assert.Equal(4, vectors.Count);
        Assert.Equal(2, vectors.Find(WordTokenizer.HashWord("WRITE")));

        var result = RouterTrainer.Train(SyntheticData.Create(), Options with { WordVectors = vectors, WordVectorTopWords = 2 });
        Assert.Equal(EmbeddingKind.WordVectors, result.Model.EmbeddingKind);
        Assert.Equal(4, result.Model.WordHashes.Length); // the top 2 plus the data's words GloVe knows ("write", "function")
        Assert.Empty(result.Model.DenseHead); // folded into the word rows
        ClassifierFileWriter.Write(result.Model, dir.File("m.mrtc"));
        using var classifier = TaskClassifier.Load(dir.File("m.mrtc"));
        Assert.StartsWith("glove", classifier.EmbeddingDescription, StringComparison.Ordinal);
        Assert.Equal(0, classifier.Classify("Write a Go function that counts words.").Label);
    }

    [Fact]
    public void TheBuildsGloveTableLoads()
    {
        using var vectors = WordVectorFile.Open(TestFiles.RequireGlove());
        Assert.Equal(100, vectors.Dimensions);
        Assert.True(vectors.Count > 300_000);
        Assert.Equal("the", vectors.Words[0]);
        var king = new float[100];
        var queen = new float[100];
        var carrot = new float[100];
        vectors.GetRow(vectors.Find(WordTokenizer.HashWord("king")), king);
        vectors.GetRow(vectors.Find(WordTokenizer.HashWord("queen")), queen);
        vectors.GetRow(vectors.Find(WordTokenizer.HashWord("carrot")), carrot);
        Assert.True(Cosine(king, queen) > Cosine(king, carrot) + 0.2, "king should be nearer queen than carrot");
    }

    [Fact]
    public void AGgufModelsTokenEmbeddingsCanBeTheSource()
    {
        var model = TestFiles.RequireSharedModel("stories260K.gguf");
        using var dir = new TempDirectory();
        using var source = GgufEmbeddingSource.Open(model);
        Assert.True(source.Dimensions > 0);
        var sum = new float[source.Dimensions];
        Assert.True(source.AccumulateRows("Once upon a time", [], 64, sum) > 0);

        var result = RouterTrainer.Train(SyntheticData.Create(), Options with { Gguf = source });
        Assert.Equal(EmbeddingKind.Gguf, result.Model.EmbeddingKind);
        ClassifierFileWriter.Write(result.Model, dir.File("m.mrtc"));
        using var classifier = TaskClassifier.Load(dir.File("m.mrtc"));
        Assert.StartsWith("gguf:", classifier.EmbeddingDescription, StringComparison.Ordinal);
        Assert.Equal(1, classifier.Classify("Ann has 3 books and buys 2 more each day. How many books after 5 days?").Label);

        var scores = new float[classifier.LabelCount];
        for (var i = 0; i < 500; i++)
        {
            classifier.Classify("Write a C# function that parses a date.", scores);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 200; i++)
        {
            classifier.Classify("Write a C# function that parses a date.", scores);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static double Cosine(float[] a, float[] b) =>
        System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a, b);

    /// <summary>An MRWV v1 table of four 3-d words (layout in build/glove-convert.js).</summary>
    private static void WriteTinyTable(string path)
    {
        string[] words = ["the", "a", "write", "function"];
        var encoded = words.Select(Encoding.UTF8.GetBytes).ToArray();
        var wordsLength = encoded.Sum(e => 2 + e.Length);
        var rowsOffset = (64 + wordsLength + 63) / 64 * 64;
        var data = new byte[rowsOffset + (words.Length * 3 * 2)];
        Encoding.ASCII.GetBytes("MRWV").CopyTo(data, 0);
        BitConverter.TryWriteBytes(data.AsSpan(4), 1u);
        BitConverter.TryWriteBytes(data.AsSpan(8), (uint)words.Length);
        BitConverter.TryWriteBytes(data.AsSpan(12), 3u);
        BitConverter.TryWriteBytes(data.AsSpan(16), 1u);
        BitConverter.TryWriteBytes(data.AsSpan(24), 64L);
        BitConverter.TryWriteBytes(data.AsSpan(32), (long)wordsLength);
        BitConverter.TryWriteBytes(data.AsSpan(40), (long)rowsOffset);
        BitConverter.TryWriteBytes(data.AsSpan(48), (long)(words.Length * 6));
        var at = 64;
        foreach (var e in encoded)
        {
            BitConverter.TryWriteBytes(data.AsSpan(at), (ushort)e.Length);
            e.CopyTo(data, at + 2);
            at += 2 + e.Length;
        }

        for (var i = 0; i < words.Length * 3; i++)
        {
            BitConverter.TryWriteBytes(data.AsSpan(rowsOffset + (i * 2)), (Half)((i % 5) - 2));
        }

        File.WriteAllBytes(path, data);
    }
}
