using System.Text.Json;
using ModelRouter.Cli.Benchmarks.Chat;

namespace ModelRouter.Cli.Tests.Benchmarks.Chat;

public sealed class ChatBenchReportTests
{
    private static readonly ChatSwap Confirmed = new(Evictions: 1, Restores: 1, ContextReleases: 1, EvictAttempts: 2);

    private static ChatModeRun Mode(string name, double[] ttft, string[]? answers = null, int[]? cached = null, ChatSwap? swap = null, bool ours = true) =>
        new(name, name + " mode", [.. ttft.Select((t, i) => new ChatTurn(i + 1, 100 * (i + 1), cached?[i] ?? 0, 32, t, t + 500, answers?[i] ?? $"answer {i + 1}")
        {
            Swap = swap is not null && i > 0 ? swap : null,
        })])
        { Ours = ours };

    private static ChatModeRun[] ThreeModes(double reuseLast, double noReuseLast, double swapLast, ChatSwap? swap = null) =>
    [
        Mode(ChatBenchReport.Reuse, [100, reuseLast], cached: [0, 90]),
        Mode(ChatBenchReport.NoReuse, [100, noReuseLast]),
        Mode(ChatBenchReport.Swap, [100, swapLast], cached: [0, 90], swap: swap ?? Confirmed),
    ];

    [Fact]
    public void Ratios_are_the_last_turns_ttft_over_the_same_turn_without_reuse()
    {
        var summary = ChatBenchReport.Summarize(ThreeModes(reuseLast: 150, noReuseLast: 1000, swapLast: 250));

        Assert.Equal(2, summary.Turns);
        Assert.Equal(0.15, summary.ReuseOverNoReuse!.Value, 9);
        Assert.Equal(0.25, summary.SwapOverNoReuse!.Value, 9);
        Assert.True(summary.ReuseTargetMet);
        Assert.True(summary.SwapTargetMet);
        Assert.Equal(0.45, summary.LastTurnCachedShare[ChatBenchReport.Reuse], 9);
        Assert.Null(summary.PeerOverNoReuse);
        Assert.True(summary.Passed);
    }

    [Fact]
    public void Targets_missed_are_reported_but_do_not_fail_the_run()
    {
        var summary = ChatBenchReport.Summarize(ThreeModes(reuseLast: 300, noReuseLast: 1000, swapLast: 310));

        Assert.False(summary.ReuseTargetMet);
        Assert.False(summary.SwapTargetMet);
        Assert.True(summary.Passed);
        Assert.Contains("MISSED", ChatBenchReport.SummaryText(summary), StringComparison.Ordinal);
    }

    [Fact]
    public void A_different_answer_in_one_mode_fails_the_run_and_names_the_turn()
    {
        ChatModeRun[] modes =
        [
            Mode(ChatBenchReport.Reuse, [100, 20, 30], answers: ["x", "y", "z"]),
            Mode(ChatBenchReport.NoReuse, [100, 200, 300], answers: ["x", "y", "z"]),
            Mode(ChatBenchReport.Swap, [100, 40, 50], answers: ["x", "Y", "z"], swap: Confirmed),
        ];

        var summary = ChatBenchReport.Summarize(modes);

        Assert.False(summary.AnswersIdentical);
        Assert.Equal((2, ChatBenchReport.Swap), summary.FirstMismatch);
        Assert.False(summary.Passed);
        Assert.Contains("MISMATCH from turn 2", ChatBenchReport.SummaryText(summary), StringComparison.Ordinal);
        Assert.Equal(["yes", "NO", "yes"], ChatBenchReport.Table(modes).ToCsv().Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')[^1]));
    }

    [Fact]
    public void A_swap_the_pool_did_not_confirm_fails_the_run()
    {
        var contextKept = new ChatSwap(Evictions: 1, Restores: 1, ContextReleases: 0, EvictAttempts: 1);

        var summary = ChatBenchReport.Summarize(ThreeModes(150, 1000, 250, contextKept));

        Assert.Equal(0, summary.SwapsConfirmed);
        Assert.Equal(1, summary.SwapsExpected);
        Assert.False(summary.Passed);
        Assert.Contains("NOT CONFIRMED", ChatBenchReport.Table(ThreeModes(150, 1000, 250, contextKept)).ToText(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_peers_answers_are_compared_but_do_not_decide_the_run()
    {
        ChatModeRun[] modes = [.. ThreeModes(150, 1000, 250), Mode(ChatBenchReport.Peer, [90, 120], answers: ["other", "text"], ours: false)];

        var summary = ChatBenchReport.Summarize(modes);

        Assert.True(summary.AnswersIdentical);
        Assert.False(summary.PeerAnswersIdentical);
        Assert.Equal(0.12, summary.PeerOverNoReuse!.Value, 9);
        Assert.True(summary.Passed);
    }

    [Fact]
    public void A_skipped_peer_says_why_in_the_summary_and_has_no_columns()
    {
        ChatModeRun[] modes = [.. ThreeModes(150, 1000, 250), new(ChatBenchReport.Peer, "llama-server", []) { Ours = false, Skipped = "not built" }];

        var summary = ChatBenchReport.Summarize(modes);
        var table = ChatBenchReport.Table(modes).ToCsv();

        Assert.Equal("not built", summary.PeerSkipped);
        Assert.Null(summary.PeerAnswersIdentical);
        Assert.Contains("llama-server: skipped (not built)", ChatBenchReport.SummaryText(summary), StringComparison.Ordinal);
        Assert.DoesNotContain(ChatBenchReport.Peer, table, StringComparison.Ordinal);
        Assert.StartsWith("turn,prompt tokens,reuse cached,reuse TTFT ms,no reuse cached,no reuse TTFT ms,reuse+swap cached,reuse+swap TTFT ms,swap before turn,answers equal\n", table, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_json_carries_the_ratios_checks_and_every_turn()
    {
        var modes = ThreeModes(150, 1000, 250);
        var summary = ChatBenchReport.Summarize(modes);

        using var json = JsonDocument.Parse(ChatBenchReport.SummaryJson(summary, modes, new Dictionary<string, string> { ["threads"] = "2" }));
        var root = json.RootElement;

        Assert.Equal("2", root.GetProperty("threads").GetString());
        Assert.Equal(0.15, root.GetProperty("reuse_over_no_reuse").GetDouble(), 4);
        Assert.Equal(0.25, root.GetProperty("swap_over_no_reuse").GetDouble(), 4);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("peer_over_no_reuse").ValueKind);
        Assert.True(root.GetProperty("answers_identical").GetBoolean());
        Assert.True(root.GetProperty("passed").GetBoolean());
        var swapTurns = root.GetProperty("modes").GetProperty(ChatBenchReport.Swap).GetProperty("turns");
        Assert.Equal(2, swapTurns.GetArrayLength());
        Assert.False(swapTurns[0].TryGetProperty("swap", out _));
        Assert.True(swapTurns[1].GetProperty("swap").GetProperty("kv_through_host").GetBoolean());
        Assert.Equal(90, swapTurns[1].GetProperty("cached_tokens").GetInt32());
    }
}
