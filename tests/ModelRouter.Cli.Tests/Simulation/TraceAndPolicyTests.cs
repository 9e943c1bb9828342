using System.Text.Json;
using ModelRouter.Cli.Demo;
using ModelRouter.Cli.Simulation;
using ModelRouter.Cli.Simulation.Validation;

namespace ModelRouter.Cli.Tests.Simulation;

public sealed class TraceAndPolicyTests
{
    private static readonly string[] Models = ["a", "b"];

    [Fact]
    public void OurTraceFormatParsesAndSortsByArrival()
    {
        var trace = TraceFile.Parse(new StringReader("arrival_ms,model,prompt_tokens,output_tokens,user\n20,b,5,6,u2\n10.5,a,100,7,u1\n"), "t", Models);

        Assert.Equal([new TraceRequest(TimeSpan.FromMilliseconds(10.5), "a", 100, 7, "u1"), new TraceRequest(TimeSpan.FromMilliseconds(20), "b", 5, 6, "u2")], trace);
    }

    [Fact]
    public void AzureColumnsAreAcceptedAndGetAModelByTheRule()
    {
        const string Text = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n";

        var trace = TraceFile.Parse(new StringReader(Text), "azure", Models);

        Assert.Equal(2, trace.Count);
        Assert.Equal(TimeSpan.Zero, trace[0].Arrival);
        Assert.Equal(4314.579, trace[1].Arrival.TotalMilliseconds, 3);
        Assert.Equal((374, 44), (trace[0].PromptTokens, trace[0].OutputTokens));
        Assert.All(trace, r => Assert.Contains(r.Model, Models));
    }

    [Theory]
    [InlineData("time,foo\n1,2\n", "unknown trace layout")]
    [InlineData("arrival_ms,model,prompt_tokens,output_tokens,user\n-1,a,1,1,u\n", "line 2")]
    [InlineData("arrival_ms,model,prompt_tokens,output_tokens,user\n1,a,many,1,u\n", "'many' is not a token count")]
    public void ABadTraceIsAClearError(string text, string expected)
    {
        var error = Assert.Throws<FormatException>(() => TraceFile.Parse(new StringReader(text), "t", Models));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SyntheticTracesAreReproducibleAndSticky()
    {
        var options = new SyntheticTraceOptions { Requests = 500, Stickiness = 1, PopularityShift = TimeSpan.Zero };
        var first = SyntheticTrace.Generate(["a", "b", "c"], options);

        Assert.Equal(first, SyntheticTrace.Generate(["a", "b", "c"], options));
        Assert.All(first.GroupBy(r => r.User), user => Assert.Single(user.Select(r => r.Model).Distinct()));
    }

    [Fact]
    public void SyntheticTokenCountsStayInsideTheirBoundsAndSpanThem()
    {
        var trace = SyntheticTrace.Generate(["a"], new SyntheticTraceOptions { Requests = 2000, PromptTokens = (32, 320), OutputTokens = (8, 48) });

        Assert.All(trace, r => Assert.InRange(r.PromptTokens, 32, 320));
        Assert.All(trace, r => Assert.InRange(r.OutputTokens, 8, 48));
        Assert.True(trace.Min(r => r.PromptTokens) < 40 && trace.Max(r => r.PromptTokens) > 280, "log-uniform over the whole range");
    }

    [Fact]
    public void TheDefaultBudgetHoldsTheLargestModelEvenWhenFortyPercentWouldNot()
    {
        var small = SwapProfile.H100Estimate(2); // 2 GB and 3 GB: 40% is 2 GB
        Assert.Equal(small.Models.Max(m => m.WeightBytes), new SimulationSettings { Profile = small }.Budget);

        var six = SwapProfile.H100Estimate(6);
        Assert.Equal((long)(six.Models.Sum(m => m.WeightBytes) * 0.4), new SimulationSettings { Profile = six }.Budget);
    }

    [Fact]
    public void TheValidationBudgetHoldsOneModelAndRefusesModelsThatWouldFitInPairs()
    {
        static DemoFootprint Model(string name, long mb) => new(name, mb * 1_000_000, 0, 0);

        Assert.Equal(200_000_000, ValidationCatalog.Budget([Model("a", 90), Model("b", 120), Model("c", 155)]));
        Assert.Throws<InvalidOperationException>(() => ValidationCatalog.Budget([Model("a", 40), Model("b", 90), Model("c", 155)]));
    }

    [Fact]
    public void AProfileFileIsReadWithItsSourceAndABadOneNamesTheLine()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, SwapProfile.ProfileHeader + "\nm,16,320,1,2400,8000,160,published: vendor sheet\n");
            var model = Assert.Single(SwapProfile.Load(path).Models);
            Assert.Equal((16_000_000_000L, 320.0, 160.0), (model.WeightBytes, model.RestoreMs, model.DecodeTokensPerSecond));
            Assert.Equal("published: vendor sheet", model.Sources[nameof(ModelCost.RestoreMs)]);

            File.WriteAllText(path, SwapProfile.ProfileHeader + "\nm,16,fast,1,2400,8000,160,x\n");
            var error = Assert.Throws<FormatException>(() => SwapProfile.Load(path));
            Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void PerRequestSwapReloadsForEveryChangeOfModelInArrivalOrder()
    {
        var profile = new SwapProfile("t", [Cost("a"), Cost("b")]);
        TraceRequest[] trace = [new(TimeSpan.Zero, "a", 100, 10, "u"), new(TimeSpan.Zero, "b", 100, 10, "u"), new(TimeSpan.Zero, "a", 100, 10, "u")];

        var run = BaselinePolicies.Run("per-request-swap", profile, trace, maxLoaded: 2, slots: 8);

        // each: reload 2000 ms, prefill 100 ms, 9 steps of 10 ms (190 ms of service); a request waits for the previous model.
        Assert.Equal([2100, 2190 + 2100, 2 * 2190 + 2100], run.TtftMs);
        Assert.Equal(3, run.Swaps);
    }

    [Fact]
    public void TheLowerBoundIsPrefillThenDecode()
    {
        var run = BaselinePolicies.Run("lower-bound", new SwapProfile("t", [Cost("a")]), [new(TimeSpan.Zero, "a", 100, 10, "u")], 1, 8);

        Assert.Equal([100.0], run.TtftMs);
        Assert.Equal([190.0], run.EndToEndMs);
    }

    [Fact]
    public void SummaryJsonHasOneObjectPerPolicyWithTheNamedFields()
    {
        var profile = new SwapProfile("t", [Cost("a")]);
        TraceRequest[] trace = [new(TimeSpan.Zero, "a", 100, 10, "u")];
        var runs = BaselinePolicies.Names.Select(p => BaselinePolicies.Run(p, profile, trace, 1, 8)).ToList();

        using var json = JsonDocument.Parse(SimulationReport.SummaryJson(runs));

        Assert.Equal(BaselinePolicies.Names, json.RootElement.EnumerateArray().Select(e => e.GetProperty("policy").GetString()));
        foreach (var field in new[] { "ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "swaps_per_min", "swap_time_share" })
        {
            Assert.All(json.RootElement.EnumerateArray(), e => Assert.Equal(JsonValueKind.Number, e.GetProperty(field).ValueKind));
        }
    }

    private static ModelCost Cost(string name) => new()
    {
        Model = name,
        WeightBytes = 1000,
        RestoreMs = 500,
        EvictMs = 10,
        ReloadMs = 2000,
        PrefillTokensPerSecond = 1000,
        DecodeTokensPerSecond = 100,
        Sources = new Dictionary<string, string>(),
    };
}
