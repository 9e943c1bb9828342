using ModelRouter.Routing.Evaluation;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Training;

/// <summary>Sources, several input files, default inputs, augmentation and the leave-one-source-out check.</summary>
public sealed class SourceHoldoutTests
{
    [Fact]
    public void SourcesAreReadAndFilesAreJoined()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("a.jsonl"), """
            {"text": "write a function", "label": "code", "source_dataset": "A"}
            {"text": "what is the capital of France", "label": "open_qa", "source_dataset": "A"}
            """);
        File.WriteAllText(dir.File("b.jsonl"), """
            {"text": "solve 2x = 4", "label": "math_reasoning", "source_dataset": "B"}
            {"text": "no source here", "label": "open_qa"}
            """);
        var set = TrainingSet.Load([dir.File("a.jsonl"), dir.File("b.jsonl")]);
        Assert.Equal(["code", "math_reasoning", "open_qa"], set.Labels);
        Assert.Equal(["A", "B"], set.Sources);
        Assert.Equal(2, set.FilterSource("A", keep: true).Examples.Count);
        Assert.Equal(2, set.FilterSource("A", keep: false).Examples.Count);
        Assert.Null(set.Examples[3].Source);
    }

    [Fact]
    public void AOneLabelFileCanBeEvaluatedButNotTrainedOn()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("one.jsonl"), "{\"text\": \"solve x\", \"label\": \"math_reasoning\"}\n");
        Assert.Single(TrainingSet.Load([dir.File("one.jsonl")], minimumLabels: 1).Labels);
        var error = Assert.Throws<TrainingDataException>(() => TrainingSet.Load([dir.File("one.jsonl")]));
        Assert.Contains("at least two labels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultInputsAreTheSharedFileThenTheRepositoryRows()
    {
        using var dir = new TempDirectory();
        var repo = Path.Combine(dir.Path, "repo");
        Directory.CreateDirectory(Path.Combine(repo, "data", "routing", "ood"));
        Directory.CreateDirectory(Path.Combine(repo, "src", "deep"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "shared", "routing-data"));
        File.WriteAllText(Path.Combine(dir.Path, "shared", "routing-data", "train.jsonl"), "");
        File.WriteAllText(Path.Combine(repo, "data", "routing", "b.jsonl"), "");
        File.WriteAllText(Path.Combine(repo, "data", "routing", "a.jsonl"), "");
        File.WriteAllText(Path.Combine(repo, "data", "routing", "ood", "never.jsonl"), "");
        var paths = DefaultTrainingData.Locate(Path.Combine(repo, "src", "deep"));
        Assert.Equal(
            [Path.Combine(dir.Path, "shared", "routing-data", "train.jsonl"), Path.Combine(repo, "data", "routing", "a.jsonl"), Path.Combine(repo, "data", "routing", "b.jsonl")],
            paths.Select(Path.GetFullPath));
    }

    [Fact]
    public void RowsTheBuildGeneratesFollowTheRepositoryRows()
    {
        using var dir = new TempDirectory();
        var repo = Path.Combine(dir.Path, "repo");
        Directory.CreateDirectory(Path.Combine(repo, "data", "routing"));
        Directory.CreateDirectory(Path.Combine(repo, "artifacts", "routing-data"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "shared", "routing-data"));
        File.WriteAllText(Path.Combine(dir.Path, "shared", "routing-data", "train.jsonl"), "");
        File.WriteAllText(Path.Combine(repo, "data", "routing", "a.jsonl"), "");
        File.WriteAllText(Path.Combine(repo, "artifacts", "routing-data", "code-pasted.jsonl"), "");
        var paths = DefaultTrainingData.Locate(repo);
        Assert.Equal(
            [Path.Combine(dir.Path, "shared", "routing-data", "train.jsonl"), Path.Combine(repo, "data", "routing", "a.jsonl"),
                Path.Combine(repo, "artifacts", "routing-data", "code-pasted.jsonl")],
            paths.Select(Path.GetFullPath));
    }

    [Fact]
    public void MissingSharedDataIsAClearError()
    {
        using var dir = new TempDirectory();
        var repo = Path.Combine(dir.Path, "repo");
        Directory.CreateDirectory(Path.Combine(repo, "data", "routing"));
        var error = Assert.Throws<TrainingDataException>(() => DefaultTrainingData.Locate(repo));
        Assert.Contains("routing-data", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void VariantsKeepTheTaskTextAndAreDeterministic()
    {
        const string withPassage = "Summarize this text.\n\nThe river floods every spring and the town moves uphill.";
        for (var template = 0; template < 1 << 14; template += 997)
        {
            var variant = Augmentation.Variant(withPassage, template);
            Assert.Contains("The river floods every spring", variant, StringComparison.Ordinal);
            Assert.Contains("ummarize this text", variant, StringComparison.Ordinal);
            Assert.Equal(variant, Augmentation.Variant(withPassage, template));
        }

        Assert.Equal("The river floods every spring and the town moves uphill.\n\nSummarize this text.", Augmentation.Variant(withPassage, 0));
        var examples = SyntheticData.Create(perLabel: 20).Examples;
        var variants = Augmentation.Variants(examples, 0.5, seed: 3);
        Assert.InRange(variants.Count, 10, 50);
        Assert.All(variants, v => Assert.Equal(examples[v.Origin].Label, v.Example.Label));
        Assert.Equal(variants.Select(v => v.Example.Text), Augmentation.Variants(examples, 0.5, seed: 3).Select(v => v.Example.Text));
    }

    [Fact]
    public void HoldingOutASourceTrainsWithoutItAndEvaluatesOnIt()
    {
        var synthetic = SyntheticData.Create(perLabel: 30);
        // Source "B" is a third of the code and math examples; the rest is "A".
        var examples = synthetic.Examples.Select((e, i) => e with { Source = (i / 3) % 3 == 0 && e.Label != 2 ? "B" : "A" }).ToArray();
        var set = TrainingSet.Create(synthetic.Labels, examples);
        var (evaluation, trained, held) = SourceHoldout.Run(set, "B", new TrainerOptions { MaxEpochs = 5, BiasFolds = 0 });
        Assert.Equal(examples.Count(e => e.Source == "B"), held);
        Assert.Equal(examples.Length - held, trained);
        Assert.Equal(held, evaluation.Metrics.Count);
        Assert.Equal(held, evaluation.ByLength.Sum(b => b.Metrics.Count));
        Assert.True(evaluation.Metrics.Accuracy > 0.8, $"accuracy {evaluation.Metrics.Accuracy:F3} on the held-out source");

        var error = Assert.Throws<TrainingDataException>(() => SourceHoldout.Run(set, "C", new TrainerOptions()));
        Assert.Contains("'A'", error.Message, StringComparison.Ordinal);
    }
}
