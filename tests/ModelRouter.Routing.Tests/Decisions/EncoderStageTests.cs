using System.Numerics.Tensors;
using ModelRouter.Routing.Encoders;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Decisions;

/// <summary>Stage 2: the MRE2 head file (versioned, checked against encoder and routes) and the packaged MiniLM encoder.</summary>
public sealed class EncoderStageTests : IDisposable
{
    private static readonly string[] Labels = ["code", "math", "open_qa"];
    private readonly TempDirectory dir = new();

    [Fact]
    public void A_saved_head_loads_back_with_the_same_predictions()
    {
        var head = Head();
        var path = dir.File("r.mrtc.stage2");
        head.Save(path);

        var loaded = EncoderHead.Load(path);

        Assert.Equal(PackagedModel.EncoderId, loaded.EncoderId);
        Assert.Equal(Labels, loaded.Labels);
        Assert.Equal(64, loaded.MaxTokens);
        Assert.Equal(head.Thresholds, loaded.Thresholds);
        var x = new float[] { 0.6f, 0.8f, 0, 0 };
        Span<float> a = stackalloc float[3];
        Span<float> b = stackalloc float[3];
        Assert.Equal(head.Predict(x, a), loaded.Predict(x, b));
        Assert.Equal(1, loaded.Predict(x, b).Label);
        Assert.Equal(1f, TensorPrimitives.Sum(b), 5);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void Another_version_is_refused_with_a_retrain_hint()
    {
        var path = dir.File("v.stage2");
        Head().Save(path);
        var bytes = File.ReadAllBytes(path);
        bytes[4] = 2;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => EncoderHead.Load(path));

        Assert.Contains("version 2 stage-2 head; this build reads version 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("train-router --stage2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_or_foreign_file_is_refused()
    {
        var path = dir.File("t.stage2");
        Head().Save(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 5)]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => EncoderHead.Load(path)).Message, StringComparison.Ordinal);

        File.WriteAllText(path, "not a head at all, just text");
        Assert.Contains("no MRE2 magic", Assert.Throws<InvalidDataException>(() => EncoderHead.Load(path)).Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => EncoderHead.Load(dir.File("absent.stage2")));
    }

    [Fact]
    public void A_head_for_other_routes_or_another_encoder_is_refused_naming_both()
    {
        var head = Head();

        var routes = Assert.Throws<InvalidDataException>(() => head.CheckCompatible("h", PackagedModel.EncoderId, 4, ["code", "math"]));
        var encoder = Assert.Throws<InvalidDataException>(() => head.CheckCompatible("h", "other-encoder", 4, Labels));
        var width = Assert.Throws<InvalidDataException>(() => head.CheckCompatible("h", PackagedModel.EncoderId, 384, Labels));

        Assert.Contains("[code, math, open_qa], the stage-1 classifier among [code, math]", routes.Message, StringComparison.Ordinal);
        Assert.Contains("but the encoder here is 'other-encoder'", encoder.Message, StringComparison.Ordinal);
        Assert.Contains("(384 dims)", width.Message, StringComparison.Ordinal);
        head.CheckCompatible("h", PackagedModel.EncoderId, 4, Labels);
    }

    [Fact]
    public void The_packaged_encoder_embeds_normalised_vectors_where_like_tasks_sit_closer()
    {
        if (!PackagedModel.IsAvailable(out var path))
        {
            Assert.Skip($"the MiniLM package assembly is absent ({path}): restore the solution to run this test.");
        }

        using var encoder = new SentenceEncoder(threads: 1, maxTokens: 64);
        var code1 = Embed(encoder, "write a python function that sorts a list");
        var code2 = Embed(encoder, "implement quicksort in python");
        var poem = Embed(encoder, "write a poem about the sea at night");

        Assert.Equal(384, encoder.Dimensions);
        Assert.Equal(1f, TensorPrimitives.Norm(code1), 3);
        Assert.True(TensorPrimitives.Dot(code1, code2) > TensorPrimitives.Dot(code1, poem) + 0.2f);
    }

    [Fact]
    public void A_head_trained_on_embeddings_separates_two_easy_routes()
    {
        if (!PackagedModel.IsAvailable(out var path))
        {
            Assert.Skip($"the MiniLM package assembly is absent ({path}): restore the solution to run this test.");
        }

        string[] code = ["write a python function to reverse a string", "fix this java null pointer exception", "implement a linked list in c", "write a sql query joining two tables", "debug my javascript loop", "write a rust function that parses json", "refactor this c# class", "write a bash script to rename files", "implement binary search in go", "write unit tests for this function"];
        string[] math = ["what is 17 times 23", "solve for x: 2x + 3 = 11", "a train travels 60 km in 1.5 hours; what is its speed", "compute the derivative of x squared", "how many ways can 5 people sit in a row", "what is the sum of the first 100 integers", "find the area of a circle of radius 3", "if a shirt costs 20 dollars after a 20% discount what was the price", "simplify 3/4 + 5/6", "prove that the square root of 2 is irrational"];
        var set = TrainingSet.Create(["code", "math"], [.. code.Select(t => new LabeledText(t, 0)), .. math.Select(t => new LabeledText(t, 1))]);
        using var encoder = new SentenceEncoder(threads: 1, maxTokens: 32);

        var head = EncoderHeadTrainer.Train(set, encoder, new EncoderHeadOptions { MaxTokens = 32, Threads = 1, Epochs = 200 });
        using var stage = new EncoderStage(encoder, head, ownsEncoder: false);

        Assert.Equal(0, stage.Classify("write a function in python that merges two sorted arrays").Prediction.Label);
        Assert.Equal(1, stage.Classify("what is 45 divided by 9 plus 7").Prediction.Label);
    }

    public void Dispose() => dir.Dispose();

    private static float[] Embed(SentenceEncoder encoder, string text)
    {
        var embedding = new float[encoder.Dimensions];
        encoder.Encode(text, embedding);
        return embedding;
    }

    private static EncoderHead Head() =>
        new(PackagedModel.EncoderId, 64, Labels,
            [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1],
            [0.1f, 0, -0.1f],
            [0.5f, 0.4f, 0.6f],
            0.8f);
}
