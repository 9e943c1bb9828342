using System.Buffers.Binary;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Features;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Classification;

public sealed class ClassifierFileTests
{
    private static readonly TrainerOptions Options = new() { Seed = 3, MaxEpochs = 8, Features = new FeatureSettings { HashBits = 14 } };

    [Fact]
    public void FileRoundTripGivesTheTrainersScores()
    {
        using var dir = new TempDirectory();
        var set = SyntheticData.Create();
        var result = RouterTrainer.Train(set, Options);
        var path = dir.File("model.mrtc");
        ClassifierFileWriter.Write(result.Model, path);

        using var classifier = TaskClassifier.Load(path);
        Assert.Equal(set.Labels, classifier.Labels);
        Assert.Equal(result.Temperature, classifier.Temperature);
        Assert.Equal(result.Model.Thresholds, classifier.Thresholds.ToArray());

        // The same featurizer and head in memory must give the file's probabilities.
        var featurizer = new Featurizer(result.Model.Features, null);
        var rows = new int[featurizer.MaxSparseFeatures];
        var scores = new float[set.Labels.Count];
        var expected = new float[set.Labels.Count];
        foreach (var example in set.Examples.Take(30))
        {
            var n = featurizer.Featurize(example.Text, rows, []);
            var stride = (set.Labels.Count + 7) & ~7;
            for (var k = 0; k < expected.Length; k++)
            {
                var sum = 0f;
                for (var i = 0; i < n; i++)
                {
                    sum += result.Model.SparseWeights[(rows[i] * stride) + k];
                }

                expected[k] = (result.Model.Bias[k] + (sum / MathF.Sqrt(n))) / result.Temperature;
            }

            var max = expected.Max();
            var total = expected.Sum(e => MathF.Exp(e - max));
            var prediction = classifier.Classify(example.Text, scores);
            for (var k = 0; k < expected.Length; k++)
            {
                Assert.Equal(MathF.Exp(expected[k] - max) / total, scores[k], 4);
            }

            Assert.Equal(Array.IndexOf(scores, scores.Max()), prediction.Label);
        }
    }

    [Fact]
    public void TrainingIsDeterministicForASeed()
    {
        using var dir = new TempDirectory();
        var set = SyntheticData.Create();
        ClassifierFileWriter.Write(RouterTrainer.Train(set, Options).Model, dir.File("a.mrtc"));
        ClassifierFileWriter.Write(RouterTrainer.Train(set, Options).Model, dir.File("b.mrtc"));
        ClassifierFileWriter.Write(RouterTrainer.Train(set, Options with { Seed = 4 }).Model, dir.File("c.mrtc"));
        Assert.Equal(File.ReadAllBytes(dir.File("a.mrtc")), File.ReadAllBytes(dir.File("b.mrtc")));
        Assert.NotEqual(File.ReadAllBytes(dir.File("a.mrtc")), File.ReadAllBytes(dir.File("c.mrtc")));
    }

    [Fact]
    public void EnsembleBiasFoldsAndNewFamiliesAreDeterministicAndRoundTrip()
    {
        using var dir = new TempDirectory();
        var set = SyntheticData.Create();
        var options = Options with
        {
            Ensemble = 2,
            BiasFolds = 3,
            LabelSmoothing = 0.05f,
            Features = Options.Features with { Families = FeatureFamilies.All },
        };
        var model = RouterTrainer.Train(set, options).Model;
        ClassifierFileWriter.Write(model, dir.File("a.mrtc"));
        ClassifierFileWriter.Write(RouterTrainer.Train(set, options).Model, dir.File("b.mrtc"));
        Assert.Equal(File.ReadAllBytes(dir.File("a.mrtc")), File.ReadAllBytes(dir.File("b.mrtc")));

        using var classifier = TaskClassifier.Load(dir.File("a.mrtc"));
        Assert.Equal(FeatureFamilies.All, classifier.Features.Families);
        var correct = set.Examples.Count(e => classifier.Classify(e.Text).Label == e.Label);
        Assert.True(correct >= set.Examples.Count * 0.95, $"{correct} of {set.Examples.Count}");
    }

    [Fact]
    public void CrossValidationScoresEveryExampleOnce()
    {
        var set = SyntheticData.Create();
        var metrics = RouterTrainer.CrossValidate(set, Options, 4);
        Assert.Equal(set.Examples.Count, metrics.Count);
        Assert.True(metrics.MacroF1 > 0.9, metrics.MacroF1.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void LearnsASeparableSet()
    {
        using var dir = new TempDirectory();
        var set = SyntheticData.Create();
        ClassifierFileWriter.Write(RouterTrainer.Train(set, Options).Model, dir.File("m.mrtc"));
        using var classifier = TaskClassifier.Load(dir.File("m.mrtc"));
        Assert.Equal(0, classifier.Classify("Write a Python function that sorts strings.").Label);
        Assert.Equal(1, classifier.Classify("Bob has 12 coins and buys 3 more each day. How many coins after 4 days?").Label);
        Assert.Equal(2, classifier.Classify("Summarize this text about volcanoes\n\nVolcanoes are a subject with a long history.").Label);
    }

    [Fact]
    public void ClassifyAllocatesNothing()
    {
        using var dir = new TempDirectory();
        ClassifierFileWriter.Write(RouterTrainer.Train(SyntheticData.Create(), Options).Model, dir.File("m.mrtc"));
        using var classifier = TaskClassifier.Load(dir.File("m.mrtc"));
        var scores = new float[classifier.LabelCount];
        var prompt = "Write a Rust function that merges two maps, then explain it.\n\n" + string.Join(' ', Enumerable.Repeat("context words here", 300));
        for (var i = 0; i < 2000; i++)
        {
            classifier.Classify(prompt, scores);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            classifier.Classify(prompt, scores);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ConcurrentCallersGetTheSameAnswers()
    {
        using var dir = new TempDirectory();
        var set = SyntheticData.Create();
        ClassifierFileWriter.Write(RouterTrainer.Train(set, Options).Model, dir.File("m.mrtc"));
        using var classifier = TaskClassifier.Load(dir.File("m.mrtc"));
        var expected = set.Examples.Select(e => classifier.Classify(e.Text)).ToArray();
        Parallel.For(0, 8, _ =>
        {
            var scores = new float[classifier.LabelCount];
            for (var i = 0; i < set.Examples.Count; i++)
            {
                Assert.Equal(expected[i], classifier.Classify(set.Examples[i].Text, scores));
            }
        });
    }

    [Fact]
    public void RejectsTruncatedAndForeignFiles()
    {
        using var dir = new TempDirectory();
        var path = dir.File("m.mrtc");
        ClassifierFileWriter.Write(RouterTrainer.Train(SyntheticData.Create(), Options).Model, path);
        var bytes = File.ReadAllBytes(path);

        File.WriteAllBytes(dir.File("short.mrtc"), bytes[..(bytes.Length / 2)]);
        Assert.Contains("outside the file", Assert.Throws<InvalidDataException>(() => TaskClassifier.Load(dir.File("short.mrtc"))).Message, StringComparison.Ordinal);

        var foreign = (byte[])bytes.Clone();
        foreign[0] = (byte)'X';
        File.WriteAllBytes(dir.File("foreign.mrtc"), foreign);
        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => TaskClassifier.Load(dir.File("foreign.mrtc"))).Message, StringComparison.Ordinal);

        var future = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(future.AsSpan(4), 99);
        File.WriteAllBytes(dir.File("future.mrtc"), future);
        Assert.Contains("version 99", Assert.Throws<InvalidDataException>(() => TaskClassifier.Load(dir.File("future.mrtc"))).Message, StringComparison.Ordinal);

        var old = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(old.AsSpan(4), 1);
        File.WriteAllBytes(dir.File("old.mrtc"), old);
        var oldMessage = Assert.Throws<InvalidDataException>(() => TaskClassifier.Load(dir.File("old.mrtc"))).Message;
        Assert.Contains("version 1", oldMessage, StringComparison.Ordinal);
        Assert.Contains("retrain", oldMessage, StringComparison.Ordinal);

        // Version 2 files hash tokens differently: loading one would classify with the wrong rows, so it is refused.
        BinaryPrimitives.WriteUInt32LittleEndian(old.AsSpan(4), 2);
        File.WriteAllBytes(dir.File("v2.mrtc"), old);
        var v2Message = Assert.Throws<InvalidDataException>(() => TaskClassifier.Load(dir.File("v2.mrtc"))).Message;
        Assert.Contains("version 2", v2Message, StringComparison.Ordinal);
        Assert.Contains("retrain", v2Message, StringComparison.Ordinal);

        // Version 3 files featurise the whole prompt as one instruction (no request/pasted split, no structure rows).
        BinaryPrimitives.WriteUInt32LittleEndian(old.AsSpan(4), 3);
        File.WriteAllBytes(dir.File("v3.mrtc"), old);
        var v3Message = Assert.Throws<InvalidDataException>(() => TaskClassifier.Load(dir.File("v3.mrtc"))).Message;
        Assert.Contains("version 3", v3Message, StringComparison.Ordinal);
        Assert.Contains("retrain", v3Message, StringComparison.Ordinal);

        var unknownFamily = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(unknownFamily.AsSpan(16), (int)FeatureFamilies.All | 1 << 20);
        File.WriteAllBytes(dir.File("family.mrtc"), unknownFamily);
        Assert.Contains("feature families", Assert.Throws<InvalidDataException>(() => TaskClassifier.Load(dir.File("family.mrtc"))).Message, StringComparison.Ordinal);

        Assert.Throws<FileNotFoundException>(() => TaskClassifier.Load(dir.File("absent.mrtc")));
        Assert.Throws<ArgumentException>(() => TaskClassifier.Load(path).Classify("x", new float[1]));
    }
}
