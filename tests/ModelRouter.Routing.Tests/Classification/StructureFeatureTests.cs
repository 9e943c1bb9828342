using ModelRouter.Routing.Features;

namespace ModelRouter.Routing.Tests.Classification;

/// <summary>The request/pasted split and the structure family, as the featurizer applies them.</summary>
public sealed class StructureFeatureTests
{
    private static readonly Featurizer Featurizer = new(new FeatureSettings(), null);

    [Fact]
    public void PastedCodeDoesNotBecomeRequestWords()
    {
        var settings = new FeatureSettings { Families = FeatureFamilies.Unigrams };
        var unigrams = new Featurizer(settings, null);
        var plain = Rows(unigrams, "What does this do?");
        var withCode = Rows(unigrams, "What does this do?\n\n```js\nconst total = items.reduce((a, b) => a + b, 0);\n```");
        Assert.Equal(plain, withCode);
    }

    [Fact]
    public void PastedCodeAndItsLanguageAddStructureRows()
    {
        var structure = new Featurizer(new FeatureSettings { Families = FeatureFamilies.Structure }, null);
        var python = Rows(structure, "What does this do?\n\n```python\nimport os\nprint(os.getcwd())\n```");
        var js = Rows(structure, "What does this do?\n\n```javascript\nimport os\nprint(os.getcwd())\n```");
        var none = Rows(structure, "What does this do?");
        Assert.True(python.Length > none.Length, "code line starts and the fence language add rows");
        Assert.NotEqual(python, js); // the fence's language is a feature of its own
    }

    [Fact]
    public void LatexChangesTheMathDensityRow()
    {
        var structure = new Featurizer(new FeatureSettings { Families = FeatureFamilies.Structure }, null);
        var plain = Rows(structure, "Find the value of x when x squared is four.");
        var latex = Rows(structure, "Find the value of $x$ when $x^2 = 4$ and $\\frac{x}{2} > 0$.");
        Assert.NotEqual(plain, latex);
    }

    [Fact]
    public void ADocumentWithTheRequestLastIsReadAsRequestPlusPassage()
    {
        var settings = new FeatureSettings { Families = FeatureFamilies.FirstWord };
        var firstWord = new Featurizer(settings, null);
        var document = string.Join(' ', Enumerable.Repeat("The committee reviewed the annual report and approved the new budget.", 12));
        var a = Rows(firstWord, "Summarize this.\n\n" + document);
        var b = Rows(firstWord, document + "\n\nSummarize this.");
        Assert.Equal(a, b); // the same first request word either way
    }

    [Fact]
    public void FeaturizingALongPastedPromptAllocatesNothing()
    {
        var code = string.Join('\n', Enumerable.Range(0, 400).Select(i => $"    x{i} = compute(x{i - 1}, {i});"));
        var text = "Why is this slow?\n\n```python\n" + code + "\n```\n\nAlso, can you add comments? $O(n^2)$ is too much.";
        var rows = new int[Featurizer.MaxSparseFeatures];
        Featurizer.Featurize(text, rows, []);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 20; i++)
        {
            Featurizer.Featurize(text, rows, []);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static int[] Rows(Featurizer featurizer, string text)
    {
        var rows = new int[featurizer.MaxSparseFeatures];
        var n = featurizer.Featurize(text, rows, []);
        return rows[..n].Order().ToArray();
    }
}
