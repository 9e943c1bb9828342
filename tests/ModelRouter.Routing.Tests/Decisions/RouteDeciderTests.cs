using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Decisions;
using ModelRouter.Routing.Features;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Decisions;

public sealed class RouteDeciderTests : IDisposable
{
    private readonly TempDirectory dir = new();
    private readonly TaskClassifier classifier;

    public RouteDeciderTests()
    {
        var result = RouterTrainer.Train(SyntheticData.Create(), new TrainerOptions { Seed = 1, MaxEpochs = 6, Features = new FeatureSettings { HashBits = 14 } });
        ClassifierFileWriter.Write(result.Model, dir.File("m.mrtc"));
        classifier = TaskClassifier.Load(dir.File("m.mrtc"));
    }

    public void Dispose()
    {
        classifier.Dispose();
        dir.Dispose();
    }

    [Fact]
    public void ConfidentDecisionsKeepTheClassifiersRoute()
    {
        var decider = new RouteDecider(classifier, new RouteDeciderOptions { DefaultRoute = "summarization", UniformThreshold = 0.01f });
        var decision = decider.Decide("Write a Python function that reverses a list.", new float[3]);
        Assert.False(decision.Unsure);
        Assert.Equal(DecisionSource.Classifier, decision.Source);
        Assert.Equal(0, decision.Route);
    }

    [Fact]
    public void BelowThresholdIsUnsureAndTakesTheDefaultRoute()
    {
        var scores = new float[3];
        var confidence = classifier.Classify("Write a function", scores).Confidence;
        var decider = new RouteDecider(classifier, new RouteDeciderOptions { DefaultRoute = "summarization", Thresholds = new Dictionary<string, float> { ["code"] = MathF.Min(1f, confidence + 0.001f) } });
        var decision = decider.Decide("Write a function", scores);
        Assert.True(decision.Unsure);
        Assert.Equal(DecisionSource.DefaultRoute, decision.Source);
        Assert.Equal(2, decision.Route);
        Assert.Equal(0, decision.ClassifierRoute);
    }

    [Fact]
    public async Task UnsureDecisionsAskTheJudgeOnceThenUseItsCache()
    {
        var judge = new CountingJudge(answer: 1);
        var cached = new CachedLlmJudge(judge);
        var decider = new RouteDecider(classifier, new RouteDeciderOptions { DefaultRoute = "summarization", UniformThreshold = 1f }, cached);
        var first = await decider.DecideAsync("something vague");
        var second = await decider.DecideAsync("something vague");
        Assert.Equal((1, DecisionSource.Judge), (first.Route, first.Source));
        Assert.Equal((1, DecisionSource.JudgeCache), (second.Route, second.Source));
        Assert.Equal(1, judge.Calls);
        Assert.Equal(1, cached.Hits);
    }

    [Fact]
    public async Task ABrokenOrSilentJudgeFallsBackToTheDefaultRoute()
    {
        var options = new RouteDeciderOptions { DefaultRoute = "code", UniformThreshold = 1f };
        var silent = await new RouteDecider(classifier, options, new CountingJudge(answer: null)).DecideAsync("hmm");
        Assert.Equal((0, DecisionSource.DefaultRoute), (silent.Route, silent.Source));
        var broken = await new RouteDecider(classifier, options, new CountingJudge(answer: 0, fail: true)).DecideAsync("hmm");
        Assert.Equal((0, DecisionSource.DefaultRoute), (broken.Route, broken.Source));
    }

    [Fact]
    public void UnknownRoutesAndBadThresholdsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new RouteDecider(classifier, new RouteDeciderOptions { DefaultRoute = "poetry" }));
        Assert.Throws<ArgumentException>(() => new RouteDecider(classifier, new RouteDeciderOptions { DefaultRoute = "code", Thresholds = new Dictionary<string, float> { ["poetry"] = 0.5f } }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RouteDecider(classifier, new RouteDeciderOptions { DefaultRoute = "code", UniformThreshold = 1.5f }));
    }

    [Fact]
    public void TheJudgesAnswerIsParsedFromFreeText()
    {
        string[] routes = ["open_qa", "code", "math_reasoning"];
        Assert.Equal(2, GeneratorLlmJudge.ParseAnswer(" Math reasoning, because", routes));
        Assert.Equal(1, GeneratorLlmJudge.ParseAnswer("CODE", routes));
        Assert.Null(GeneratorLlmJudge.ParseAnswer("a story about a frog", routes));
        Assert.Contains("Task types: open_qa, code, math_reasoning", GeneratorLlmJudge.BuildPrompt("hi", routes), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheGeneratorJudgeRunsOnOurRuntime()
    {
        var path = TestFiles.RequireSharedModel("stories260K.gguf");
        using var model = Runtime.Models.Model.Load(path);
        using var context = Runtime.Inference.InferenceContext.Create(model, new Runtime.Inference.ContextOptions { ContextLength = 512 });
        using var judge = new GeneratorLlmJudge(context);
        string[] routes = ["code", "math_reasoning"];

        // A 260K-parameter story model cannot judge; this checks the plumbing: it generates, parses, and answers or says nothing.
        var answer = await judge.ChooseAsync("What is 2 + 2?", routes);
        Assert.True(answer is null or 0 or 1);
    }

    private sealed class CountingJudge(int? answer, bool fail = false) : ILlmJudge
    {
        public int Calls { get; private set; }

        public ValueTask<int?> ChooseAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default)
        {
            Calls++;
            return fail ? throw new InvalidOperationException("judge down") : ValueTask.FromResult(answer);
        }
    }
}
