using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Features;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Classification;

public sealed class FeatureTests
{
    [Fact]
    public void EachFamilyAddsItsFeaturesAndRowsStayInRange()
    {
        var text = "Write a short poem about the sea";
        Assert.Equal(7 + 6 + 5 + 1 + 2, Count(text, FeatureFamilies.All)); // unigrams, bigrams, trigrams, first word, two shape features
        Assert.Equal(7 + 6 + 1 + 2, Count(text, FeatureFamilies.Default));
        Assert.Equal(7, Count(text, FeatureFamilies.Unigrams));
        Assert.Equal(7 + 6, Count(text, FeatureFamilies.Unigrams | FeatureFamilies.Bigrams));
    }

    [Fact]
    public void APassageChangesTheShapeFeatureNotTheInstructionFeatures()
    {
        var settings = new FeatureSettings { HashBits = 16 };
        var featurizer = new Featurizer(settings, null);
        var a = Rows(featurizer, "Summarize this");
        var b = Rows(featurizer, "Summarize this\n\nA passage of several words.");
        Assert.Equal(a.Length, b.Length);
        Assert.Equal(a[..^1], b[..^1]);
        Assert.NotEqual(a[^1], b[^1]);
        Assert.All(b, r => Assert.InRange(r, 0, (1 << 16) - 1));
    }

    [Fact]
    public void MeanPoolingFoldsExactlyIntoScoreSpace()
    {
        // head(mean(v)) == mean(head(v)): what lets word vectors be stored pre-multiplied by the head.
        var random = new Random(5);
        const int labels = 3, dims = 6, rows = 4;
        var head = Enumerable.Range(0, labels * 2 * dims).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var vectors = Enumerable.Range(0, rows * dims).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var folded = RouterTrainer.FoldWordVectors(head, vectors, labels, dims);
        var stride = LinearHead.StrideFor(labels);
        for (var k = 0; k < labels; k++)
        {
            var direct = 0f;
            var viaFold = 0f;
            for (var j = 0; j < dims; j++)
            {
                var mean = Enumerable.Range(0, rows).Average(r => vectors[(r * dims) + j]);
                direct += head[(k * 2 * dims) + j] * (float)mean;
            }

            for (var r = 0; r < rows; r++)
            {
                viaFold += folded[(r * 2 * stride) + k] / rows;
            }

            Assert.Equal(direct, viaFold, 5);
        }
    }

    private static int Count(string text, FeatureFamilies families) =>
        Rows(new Featurizer(new FeatureSettings { Families = families }, null), text).Length;

    private static int[] Rows(Featurizer featurizer, string text)
    {
        var rows = new int[featurizer.MaxSparseFeatures];
        var n = featurizer.Featurize(text, rows, []);
        return rows[..n];
    }
}
