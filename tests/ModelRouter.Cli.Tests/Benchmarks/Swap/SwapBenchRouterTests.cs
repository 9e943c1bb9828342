using System.Text.Json;
using ModelRouter.Cli.Benchmarks.Swap;

namespace ModelRouter.Cli.Tests.Benchmarks.Swap;

public sealed class SwapBenchRouterTests
{
    [Theory]
    [InlineData("data: {\"choices\":[{\"text\":\"Once\",\"index\":0,\"finish_reason\":null}],\"object\":\"text_completion\"}", true)]
    [InlineData("data:{\"choices\":[{\"delta\":{\"content\":\" upon\"},\"index\":0}]}", true)]
    [InlineData("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null},\"index\":0}]}", false)]
    [InlineData("data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}", false)]
    [InlineData("data: {\"choices\":[]}", false)]
    [InlineData("data: [DONE]", false)]
    [InlineData(": keep-alive", false)]
    [InlineData("", false)]
    [InlineData("event: error", false)]
    [InlineData("data: {not json", false)]
    public void TokenEventsAreDataLinesWithText(string line, bool expected) =>
        Assert.Equal(expected, ServerSentTokens.IsTokenEvent(line));

    [Fact]
    public async Task ReadsUpToTheFirstTokenAndStopsThere()
    {
        using var reader = new StringReader(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n" +
            "data: {\"choices\":[{\"delta\":{\"content\":\"Once\"}}]}\n\n" +
            "data: {\"choices\":[{\"delta\":{\"content\":\" more\"}}]}\n\ndata: [DONE]\n\n");
        Assert.True(await ServerSentTokens.ReadToFirstTokenAsync(reader, TestContext.Current.CancellationToken));
        Assert.Equal("", await reader.ReadLineAsync(TestContext.Current.CancellationToken));
        Assert.Contains(" more", await reader.ReadLineAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStreamWithoutTextHasNoFirstToken()
    {
        using var reader = new StringReader("data: {\"choices\":[{\"text\":\"\"}]}\n\ndata: [DONE]\n\n");
        Assert.False(await ServerSentTokens.ReadToFirstTokenAsync(reader, TestContext.Current.CancellationToken));
    }

    private static SwapBenchRow Row() =>
        new("a.gguf", "shape", 1000, 900, ReferenceGigabytesPerSecond: 6.5, LoadMmapToFirstTokenMs: 500, LoadNoMmapToFirstTokenMs: 700,
            RestoreToFirstTokenMs: 60, RestoreOnlyMs: 20, EvictMs: 1, TokensEqual: true, ResidentToFirstTokenMs: 50,
            EvictRssDropBytes: 800, RestoreRssGainBytes: 800)
        {
            DecodeTokensPerSecondBefore = 40,
            DecodeTokensPerSecondAfterRestore = 39,
        };

    private static SwapBenchSettings Settings => new(["a.gguf"], 3, 0, null, "modelrouter bench-swap --model a.gguf");

    [Fact]
    public void SummaryHasTheRouterSwitchTheDecodeSpeedsAndTheRatios()
    {
        var row = Row() with { RouterSwitchToFirstTokenMs = 250, RouterResidentToFirstTokenMs = 70, RouterOther = "b.gguf" };
        using var json = JsonDocument.Parse(SwapBenchSummary.Write([row], Settings, "test machine"));
        var model = Assert.Single(json.RootElement.EnumerateArray());
        Assert.Equal(250, model.GetProperty("router_switch_to_token_ms").GetDouble());
        Assert.Equal(70, model.GetProperty("router_resident_to_token_ms").GetDouble());
        Assert.Equal("b.gguf", model.GetProperty("router_switch_from").GetString());
        Assert.False(model.TryGetProperty("router_switch_skipped", out _));
        Assert.Equal(10, model.GetProperty("restore_overhead_ms").GetDouble());
        Assert.Equal(450, model.GetProperty("reload_overhead_ms").GetDouble());
        Assert.Equal(200, model.GetProperty("router_overhead_ms").GetDouble());
        Assert.Equal(45, model.GetProperty("reload_over_ours").GetDouble());
        Assert.Equal(20, model.GetProperty("router_over_ours").GetDouble());
        Assert.Equal(40, model.GetProperty("decode_tps_before").GetDouble());
        Assert.Equal(39, model.GetProperty("decode_tps_after_restore").GetDouble());
        Assert.Equal(0.975, model.GetProperty("decode_after_over_before").GetDouble());
        Assert.Equal(50, model.GetProperty("resident_to_token_ms").GetDouble());
        Assert.Equal("test machine", model.GetProperty("machine").GetString());
    }

    [Fact]
    public void SkippedRouterSwitchIsNullWithTheReason()
    {
        var row = Row() with { RouterSkipped = "./build.sh peers has not been built" };
        using var json = JsonDocument.Parse(SwapBenchSummary.Write([row], Settings, "m"));
        var model = json.RootElement[0];
        Assert.Equal(JsonValueKind.Null, model.GetProperty("router_switch_to_token_ms").ValueKind);
        Assert.Equal(JsonValueKind.Null, model.GetProperty("router_overhead_ms").ValueKind);
        Assert.Equal(JsonValueKind.Null, model.GetProperty("router_over_ours").ValueKind);
        Assert.Equal("./build.sh peers has not been built", model.GetProperty("router_switch_skipped").GetString());
    }
}
