using ModelRouter.Routing.Policies;

namespace ModelRouter.Routing.Tests.Policies;

public sealed class PolicyTests
{
    private static readonly ModelCatalog Catalog = new(
    [
        new CatalogModel { Name = "qwen-1.5b", Size = SizeClass.Small, Latency = LatencyClass.RealTime, ContextLength = 32768 },
        new CatalogModel { Name = "llama-8b", Size = SizeClass.Large, ContextLength = 8192 },
        new CatalogModel { Name = "qwen-32b", Size = SizeClass.XLarge, Latency = LatencyClass.Batch, ContextLength = 32768 },
        new CatalogModel { Name = "remote-70b", Size = SizeClass.Huge, CostPer1kTokens = 0.6, IsLocal = false, Endpoint = new Uri("http://127.0.0.1:9/"), ContextLength = 131072 },
        new CatalogModel { Name = "coder-7b", Size = SizeClass.Large, TaskTypes = new HashSet<string> { "code" }, CostPer1kTokens = 0.01, ContextLength = 16384 },
    ]);

    [Fact]
    public void CapabilityPicksTheSmallestModelThatQualifies()
    {
        var policy = new CapabilityPolicy(Catalog);
        Assert.Equal("qwen-1.5b", policy.Choose(new RoutingRequest { TaskType = "classification" }).Model);
        Assert.Equal("llama-8b", policy.Choose(new RoutingRequest { TaskType = "code" }).Model); // free beats coder-7b's price at the same size
        Assert.Equal("qwen-32b", policy.Choose(new RoutingRequest { TaskType = "math_reasoning" }).Model);
        Assert.Equal("remote-70b", policy.Choose(new RoutingRequest { TaskType = "creative_writing" }).Model);

        var decision = policy.Choose(new RoutingRequest { TaskType = "summarization", PromptTokens = 9000 });
        Assert.Equal("qwen-32b", decision.Model);
        Assert.Contains(decision.Candidates, c => c.Model == "qwen-1.5b" && c.Reason.Contains("below the Medium", StringComparison.Ordinal));
        Assert.Contains(decision.Candidates, c => c.Model == "llama-8b" && c.Reason.Contains("context 8192", StringComparison.Ordinal));
        Assert.Contains(decision.Candidates, c => c.Model == "coder-7b" && c.Reason.Contains("does not serve summarization", StringComparison.Ordinal));
        Assert.Contains("* qwen-32b", decision.Explain(), StringComparison.Ordinal);
    }

    [Fact]
    public void CostRespectsRequestBudgets()
    {
        var policy = new CostPolicy(Catalog);
        Assert.Equal("llama-8b", policy.Choose(new RoutingRequest { TaskType = "code" }).Model);
        var creative = policy.Choose(new RoutingRequest { TaskType = "creative_writing", PromptTokens = 744, MaxOutputTokens = 256, RequestBudget = 0.5 });
        Assert.Null(creative.Model);
        Assert.Contains("over the request budget", creative.Candidates.Single(c => c.Model == "remote-70b").Reason, StringComparison.Ordinal);
        Assert.Equal("remote-70b", policy.Choose(new RoutingRequest { TaskType = "creative_writing" }).Model);
    }

    [Fact]
    public void LatencyUsesThePoolsEstimateIncludingSwaps()
    {
        var availability = new Availability { ["llama-8b"] = TimeSpan.FromSeconds(3), ["coder-7b"] = TimeSpan.FromMilliseconds(150), ["qwen-32b"] = TimeSpan.FromMilliseconds(90), ["remote-70b"] = TimeSpan.FromMilliseconds(800) };
        var policy = new LatencyPolicy(Catalog, availability);
        var decision = policy.Choose(new RoutingRequest { TaskType = "code" });
        Assert.Equal("coder-7b", decision.Model);
        Assert.Contains("over the Interactive limit", decision.Candidates.Single(c => c.Model == "llama-8b").Reason, StringComparison.Ordinal);
        Assert.Contains("meant for Batch", decision.Candidates.Single(c => c.Model == "qwen-32b").Reason, StringComparison.Ordinal);
        Assert.Equal("qwen-32b", policy.Choose(new RoutingRequest { TaskType = "code", Class = LatencyClass.Batch }).Model);
    }

    [Fact]
    public void HybridWeighsSizeCostAndWait()
    {
        var availability = new Availability
        {
            ["llama-8b"] = TimeSpan.FromMilliseconds(1900),
            ["coder-7b"] = TimeSpan.FromMilliseconds(100),
            ["qwen-32b"] = TimeSpan.FromSeconds(60), // would need a swap behind a long queue
            ["remote-70b"] = TimeSpan.FromMilliseconds(800),
        };
        var request = new RoutingRequest { TaskType = "code", Class = LatencyClass.Batch };
        var latencyHeavy = new HybridPolicy(Catalog, availability, new HybridWeights(Capability: 1, Cost: 0.01, Latency: 1000)).Choose(request);
        Assert.Equal("coder-7b", latencyHeavy.Model);
        var costHeavy = new HybridPolicy(Catalog, availability, new HybridWeights(Capability: 1, Cost: 1000, Latency: 0.01)).Choose(request);
        Assert.Equal("llama-8b", costHeavy.Model);
        Assert.All(costHeavy.Candidates.Where(c => c.Accepted), c => Assert.StartsWith("score ", c.Reason, StringComparison.Ordinal));
    }

    [Fact]
    public void ACatalogRejectsDuplicatesAndRemoteModelsWithoutEndpoints()
    {
        Assert.Throws<ArgumentException>(() => new ModelCatalog([new CatalogModel { Name = "a" }, new CatalogModel { Name = "a" }]));
        Assert.Throws<ArgumentException>(() => new ModelCatalog([new CatalogModel { Name = "r", IsLocal = false }]));
    }

    private sealed class Availability : Dictionary<string, TimeSpan>, IModelAvailability
    {
        public TimeSpan EstimateTimeToFirstToken(string model) => TryGetValue(model, out var t) ? t : TimeSpan.FromMilliseconds(50);
    }
}
