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
        // unigrams, bigrams, trigrams, first word, two shape features, 3 + 2 position features, 7 conjunctions (no passage:
        // no overlap or passage-word features), 4 structure rows and one output cue ("poem")
        Assert.Equal(7 + 6 + 5 + 1 + 2 + 5 + 7 + 4 + 1, Count(text, FeatureFamilies.All));
        Assert.Equal(4 + 1, Count(text, FeatureFamilies.Structure));
        Assert.Equal(5, Count(text, FeatureFamilies.Position));
        Assert.Equal(7, Count(text, FeatureFamilies.PassageConjunction));
        Assert.Equal(0, Count(text, FeatureFamilies.Overlap | FeatureFamilies.PassageWords));
        Assert.Equal(7 + 6 + 1 + 2, Count(text, FeatureFamilies.Basic));
        Assert.Equal(7, Count(text, FeatureFamilies.Unigrams));
        Assert.Equal(7 + 6, Count(text, FeatureFamilies.Unigrams | FeatureFamilies.Bigrams));
    }

    [Fact]
    public void APassageChangesTheShapeFeatureNotTheInstructionFeatures()
    {
        var settings = new FeatureSettings { HashBits = 16, Families = FeatureFamilies.Unigrams | FeatureFamilies.Bigrams | FeatureFamilies.FirstWord | FeatureFamilies.Shape };
        var featurizer = new Featurizer(settings, null);
        var a = Rows(featurizer, "Summarize this");
        var b = Rows(featurizer, "Summarize this\n\nA passage of several words.");
        Assert.Equal(a.Length, b.Length);
        Assert.Equal(a[..^1], b[..^1]);
        Assert.NotEqual(a[^1], b[^1]);
        Assert.All(b, r => Assert.InRange(r, 0, (1 << 16) - 1));
    }

    [Fact]
    public void PositionFeaturesDependOnWhereAWordStands()
    {
        var featurizer = new Featurizer(new FeatureSettings { Families = FeatureFamilies.Position }, null);
        var a = Rows(featurizer, "write ideas for a party");
        var b = Rows(featurizer, "ideas write for a party");
        Assert.Equal(5, a.Length);
        Assert.NotEqual(a[0], b[1]); // "write" first is not "write" second
        Assert.Equal(a[2], b[2]); // "for" third in both
        Assert.Equal(a[3..], b[3..]); // same last word and last pair
    }

    [Fact]
    public void ConjunctionRowsChangeWithAPassage()
    {
        var featurizer = new Featurizer(new FeatureSettings { Families = FeatureFamilies.PassageConjunction }, null);
        var alone = Rows(featurizer, "What is the capital");
        var withPassage = Rows(featurizer, "What is the capital\n\nParis is the capital of France.");
        Assert.Equal(4, alone.Length);
        Assert.Equal(4, withPassage.Length);
        Assert.Empty(alone.Intersect(withPassage));
    }

    [Fact]
    public void OverlapFeaturesMeasureInstructionWordsInThePassage()
    {
        var featurizer = new Featurizer(new FeatureSettings { Families = FeatureFamilies.Overlap }, null);
        Assert.Empty(Rows(featurizer, "Who is Ann Lee?"));
        var about = Rows(featurizer, "Who is Ann Lee?\n\nAnn Lee is a singer who is Ann Lee?");
        var unrelated = Rows(featurizer, "Who is Ann Lee?\n\nThe weather was cold on that day.");
        var again = Rows(featurizer, "Who is Ann Lee?\n\nThe weather was cold on that day, said Bob.");
        Assert.Equal(2, about.Length);
        Assert.Equal(2, unrelated.Length);
        Assert.NotEqual(about[0], unrelated[0]); // all instruction words found vs none
        Assert.NotEqual(about[1], unrelated[1]); // the passage opens with an instruction word, or not
        Assert.Equal(unrelated, again);
    }

    [Fact]
    public void PassageWordsAreCappedAndIndependentOfTheInstruction()
    {
        var featurizer = new Featurizer(new FeatureSettings { Families = FeatureFamilies.PassageWords }, null);
        var longPassage = string.Join(' ', Enumerable.Range(0, 100).Select(i => "word" + i));
        Assert.Equal(FeatureHashing.PassageWordLimit, Rows(featurizer, "Summarize\n\n" + longPassage).Length);
        var a = Rows(featurizer, "Summarize this\n\nfive words in a passage");
        var b = Rows(featurizer, "Extract names\n\nfive words in a passage");
        Assert.Equal(5, a.Length);
        Assert.Equal(a, b);
        Assert.Empty(Rows(featurizer, "five words in a passage"));
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
