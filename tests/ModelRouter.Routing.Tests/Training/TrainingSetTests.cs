using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Training;

public sealed class TrainingSetTests
{
    private static TrainingSet Read(string jsonl) => TrainingSet.Read(new StringReader(jsonl), "data.jsonl");

    [Fact]
    public void ReadsExamplesAndRouteDefinitionsTogether()
    {
        var set = Read("""
            {"text": "write a sort function", "label": "code", "id": "x"}

            {"route": "chitchat", "utterances": ["how are you", "nice weather today"]}
            {"text": "what is 2+2", "route": "math"}
            """);
        Assert.Equal(["chitchat", "code", "math"], set.Labels);
        Assert.Equal(4, set.Examples.Count);
        Assert.Equal(2, set.Examples.Count(e => e.Label == 0));
    }

    [Theory]
    [InlineData("", "no examples")]
    [InlineData("{\"text\": \"a\", \"label\": \"one\"}\n{\"text\": \"b\", \"label\": \"one\"}", "at least two labels")]
    [InlineData("{\"text\": \"a\", \"label\": \"one\"}\n{not json", "data.jsonl:2: not valid JSON")]
    [InlineData("{\"label\": \"one\"}", "data.jsonl:1: missing or empty \"text\"")]
    [InlineData("{\"text\": \"a\", \"label\": \"\"}", "missing or empty \"label\"")]
    [InlineData("[1, 2]", "expected a JSON object")]
    [InlineData("{\"route\": \"r\", \"utterances\": []}", "non-empty array")]
    public void BadDataGetsAClearError(string jsonl, string expected)
    {
        var ex = Assert.Throws<TrainingDataException>(() => Read(jsonl));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingFileIsATrainingDataError()
    {
        Assert.Contains("no such file", Assert.Throws<TrainingDataException>(() => TrainingSet.Load("/nonexistent/train.jsonl")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AligningToAModelsLabelsDropsUnknownOnes()
    {
        var set = Read("""
            {"text": "a", "label": "x"}
            {"text": "b", "label": "y"}
            {"text": "c", "label": "z"}
            """);
        var aligned = set.AlignTo(["z", "x"], out var unknown);
        Assert.Equal(1, unknown);
        Assert.Equal([1, 0], aligned.Examples.Select(e => e.Label));
    }
}
