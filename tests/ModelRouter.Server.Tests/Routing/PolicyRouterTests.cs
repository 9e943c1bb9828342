using ModelRouter.Routing.Policies;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Tests.Routing;

public sealed class PolicyRouterTests
{
    private static CatalogModelOptions Model(string name, string capability = "chat", string size = "small", double cost = 0, string latency = "realtime") =>
        new()
        {
            Name = name, Path = name + ".gguf", Capabilities = [capability], SizeClass = Enum.Parse<SizeClass>(size, ignoreCase: true), CostPer1kTokens = cost,
            LatencyClass = Enum.Parse<LatencyClass>(latency, ignoreCase: true),
        };

    private static ServerOptions Catalog(string policy, params CatalogModelOptions[] models) =>
        new() { Policy = Enum.Parse<PolicyKind>(policy, ignoreCase: true), Models = [.. models], DefaultModel = models[0].Name };

    private static PolicyRouter Router(ServerOptions options, string task = "chat", bool unsure = false, IModelAvailability? availability = null) =>
        new(options, new FixedClassifier(task, unsure), availability ?? new FixedAvailability(new()));

    [Theory(Timeout = TestTimeouts.LiveServerMs)]
    [InlineData("latency")]
    [InlineData("hybrid")]
    public async Task Under_realtime_a_resident_model_wins_over_an_equally_capable_one_whose_swap_exceeds_the_limit(string policy)
    {
        using var models = TestModels.Create(2);
        var size = new CpuWeightStore(new ModelRegistration("probe", models.Paths[0])).WeightBytes;
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = size + (size / 2) });
        pool.Register(new ModelRegistration("m0", models.Paths[0]));
        pool.Register(new ModelRegistration("m1", models.Paths[1]));
        using (await pool.AcquireAsync("m1", TestContext.Current.CancellationToken))
        {
        }

        // 1 MB/s makes the evicted model's swap-in longer than the realtime limit (300 ms) for any model of 0.3 MB or more.
        var availability = new ServerModelAvailability(pool, _ => 0, 4, new AvailabilitySettings { HostBandwidthMBps = 1, DiskBandwidthMBps = 1 });
        Assert.True(availability.EstimateTimeToFirstToken("m0") > LatencyLimits.Default.RealTime, $"m0 weighs only {size} bytes");
        var options = Catalog(policy, Model("m0"), Model("m1"));
        options.Routes = [new RouteOptions { Task = "chat", Models = ["m0", "m1"] }]; // the evicted model comes first
        var router = Router(options, availability: availability);

        var result = router.Route("hello", new RouteHints { LatencyClass = LatencyClass.RealTime });

        Assert.Equal("m1", result.Model);
        Assert.False(result.Unsure);
        Assert.Equal(policy, result.Policy);
        Assert.Contains(result.Rejections, r => r.StartsWith("m0: first token in ~", StringComparison.Ordinal) && r.Contains("over the RealTime limit of 300 ms", StringComparison.Ordinal));
        Assert.Contains(result.Verdicts, v => v.Model == "m1" && v.Accepted);
        Assert.Equal(["m1", "m0"], result.Considered);
    }

    [Theory]
    [InlineData("cost")]
    [InlineData("hybrid")]
    [InlineData("capability")] // does not price models itself: the server enforces the hint's budget
    [InlineData("latency")]
    public void A_cost_budget_rejects_an_expensive_model_with_the_reason(string policy)
    {
        var router = Router(Catalog(policy, Model("cheap", cost: 0.4), Model("pricey", size: "tiny", cost: 2)));

        var result = router.Route("hello", new RouteHints { CostBudgetPer1kTokens = 1 });

        Assert.Equal("cheap", result.Model);
        var rejection = Assert.Single(result.Rejections);
        Assert.StartsWith("pricey: costs 2", rejection, StringComparison.Ordinal);
        Assert.Contains("over the request budget 1", rejection, StringComparison.Ordinal);
        Assert.Contains(result.Verdicts, v => v.Model == "pricey" && !v.Accepted);
    }

    [Fact]
    public void The_cost_policy_picks_the_cheapest_and_the_capability_policy_the_smallest()
    {
        var options = Catalog("cost", Model("big-cheap", size: "large", cost: 0.1), Model("small-dear", size: "tiny", cost: 0.5));

        Assert.Equal("big-cheap", Router(options).Route("x", RouteHints.None).Model);
        options.Policy = PolicyKind.Capability;
        Assert.Equal("small-dear", Router(options).Route("x", RouteHints.None).Model);
    }

    [Fact]
    public void A_route_list_restricts_the_candidates_to_the_models_it_names()
    {
        var options = Catalog("cost", Model("free", capability: "code"), Model("paid", capability: "code", cost: 3), Model("chat-only"));
        options.Routes = [new RouteOptions { Task = "code", Models = ["paid", "chat-only"] }];

        var result = Router(options, task: "code").Route("fix this", RouteHints.None);

        Assert.Equal("chat-only", result.Model); // named by the route (serves code there) and cheaper than "paid"
        Assert.DoesNotContain("free", result.Considered);
        Assert.Equal(["chat-only", "paid"], result.Considered);
        Assert.DoesNotContain(result.Verdicts, v => v.Model == "free");
    }

    [Fact]
    public void Without_a_route_the_models_listing_the_task_are_the_candidates()
    {
        var options = Catalog("capability", Model("chatter"), Model("coder", capability: "code"));

        var result = Router(options, task: "code").Route("fix this", RouteHints.None);

        Assert.Equal("coder", result.Model);
        Assert.Equal(["coder"], result.Considered);
    }

    [Fact]
    public void A_latency_class_hint_rejects_models_meant_for_slower_requests_whatever_the_policy()
    {
        var options = Catalog("cost", Model("slow-free", latency: "batch"), Model("fast-paid", cost: 1, latency: "interactive"));

        var result = Router(options).Route("x", new RouteHints { LatencyClass = LatencyClass.Interactive });

        Assert.Equal("fast-paid", result.Model);
        Assert.Contains("slow-free: is meant for Batch requests, not Interactive", result.Rejections);
        Assert.Equal("slow-free", Router(options).Route("x", RouteHints.None).Model); // no class asked: any will do
    }

    [Fact]
    public void A_required_capability_overrides_the_classifier_and_an_unknown_one_throws()
    {
        var options = Catalog("hybrid", Model("chatter"), Model("coder", capability: "code"));
        var router = Router(options, task: "chat");

        Assert.Equal("coder", router.Route("x", new RouteHints { RequiredCapability = "code" }).Model);
        var error = Assert.Throws<ArgumentException>(() => router.Route("x", new RouteHints { RequiredCapability = "juggling" }));
        Assert.Contains("'juggling'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsure_classifier_sends_the_request_to_the_default_model()
    {
        var options = Catalog("hybrid", Model("fallback", capability: "misc"), Model("chatter"));

        var result = Router(options, task: "chat", unsure: true).Route("x", RouteHints.None);

        Assert.Equal("fallback", result.Model);
        Assert.True(result.Unsure);
        Assert.Contains(result.Rejections, r => r.StartsWith("classifier unsure (chat at", StringComparison.Ordinal));
        Assert.StartsWith("unsure: ", result.Explain(), StringComparison.Ordinal);
    }

    [Fact]
    public void When_nothing_qualifies_the_default_model_serves_and_every_reason_is_kept()
    {
        var options = Catalog("hybrid", Model("fallback", capability: "misc"), Model("a", cost: 5), Model("b", cost: 1, latency: "batch"));

        var result = Router(options).Route("x", new RouteHints { CostBudgetPer1kTokens = 2, LatencyClass = LatencyClass.RealTime });

        Assert.Equal("fallback", result.Model);
        Assert.True(result.Unsure);
        Assert.Contains(result.Rejections, r => r.StartsWith("a: costs 5", StringComparison.Ordinal));
        Assert.Contains(result.Rejections, r => r.StartsWith("b: ", StringComparison.Ordinal));
        Assert.Contains("hybrid: no model qualifies for chat: default model fallback", result.Rejections);
    }

    [Fact]
    public void A_task_nobody_serves_goes_to_the_default_model()
    {
        var result = Router(Catalog("cost", Model("chatter")), task: "poetry").Route("x", RouteHints.None);

        Assert.Equal("chatter", result.Model);
        Assert.True(result.Unsure);
        Assert.Contains("no route and no model serves poetry", result.Rejections[0], StringComparison.Ordinal);
    }

    [Fact]
    public void The_hybrid_weights_trade_price_against_waiting()
    {
        var options = Catalog("hybrid", Model("cheap-slow", cost: 0), Model("dear-fast", cost: 1));
        var availability = new FixedAvailability(new() { ["cheap-slow"] = 1500, ["dear-fast"] = 10 });

        options.HybridWeights = new HybridWeightSettings { Capability = 0, Cost = 1, Latency = 0.01 };
        Assert.Equal("cheap-slow", Router(options, availability: availability).Route("x", new RouteHints { LatencyClass = LatencyClass.Interactive }).Model);
        options.HybridWeights = new HybridWeightSettings { Capability = 0, Cost = 0.01, Latency = 1 };
        var result = Router(options, availability: availability).Route("x", new RouteHints { LatencyClass = LatencyClass.Interactive });
        Assert.Equal("dear-fast", result.Model);
        Assert.StartsWith("hybrid chose dear-fast: score", result.Explain(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_validator_names_a_bad_policy_and_bad_weights()
    {
        var options = Catalog("hybrid", Model("m0"));
        options.Policy = (PolicyKind)42; // names bind case-insensitively; a number binds to anything
        options.HybridWeights = new HybridWeightSettings { Cost = -1 };
        options.Availability = new AvailabilitySettings { HostBandwidthMBps = 0 };

        var result = new ServerOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("ModelRouter:Policy = '42': not one of capability, cost, latency, hybrid", result.Failures!);
        Assert.Contains("ModelRouter:HybridWeights:Cost = -1: must be a finite number ≥ 0", result.Failures!);
        Assert.Contains("ModelRouter:Availability:HostBandwidthMBps = 0: must be ≥ 1", result.Failures!);
        Assert.Throws<ArgumentException>(() => PolicyRouter.CreatePolicy((PolicyKind)42, new ModelCatalog([]), new FixedAvailability(new()), new HybridWeights()));
    }

    private sealed class FixedClassifier(string task, bool unsure) : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => (task, unsure ? 0.3f : 0.9f, unsure);
    }

    private sealed class FixedAvailability(Dictionary<string, double> milliseconds) : IModelAvailability
    {
        public TimeSpan EstimateTimeToFirstToken(string model) => TimeSpan.FromMilliseconds(milliseconds.GetValueOrDefault(model, 20));
    }
}
