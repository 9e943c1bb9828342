using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelRouter.Cli.Reporting;

namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>
/// Renders bench-chat results (pure: from the measured turns, no server): the per-turn table (text, markdown, CSV),
/// the summary (last turn's TTFT ratios, answers identical, swaps confirmed) as text and summary.json.
/// </summary>
public static class ChatBenchReport
{
    /// <summary>Our mode with prefix reuse on (the server's default PrefixCacheTokens).</summary>
    public const string Reuse = "reuse";

    /// <summary>Our mode with Scheduler:PrefixCacheTokens=0.</summary>
    public const string NoReuse = "no reuse";

    /// <summary>Our mode with reuse on and an admin evict before every turn after the first.</summary>
    public const string Swap = "reuse+swap";

    /// <summary>llama.cpp's llama-server, cache_prompt on (its default).</summary>
    public const string Peer = "llama-server";

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static ChatBenchSummary Summarize(IReadOnlyList<ChatModeRun> modes)
    {
        ArgumentNullException.ThrowIfNull(modes);
        var ran = modes.Where(m => m.Skipped is null && m.Turns.Count > 0).ToList();
        var turns = ran.Count == 0 ? 0 : ran.Max(m => m.Turns.Count);
        var last = ran.ToDictionary(m => m.Name, m => m.Turns[^1]);
        var ours = ran.Where(m => m.Ours).ToList();
        var mismatch = FirstMismatch(ours);
        var swap = ran.FirstOrDefault(m => m.Name == Swap);
        var peer = modes.FirstOrDefault(m => m.Name == Peer);
        return new ChatBenchSummary
        {
            Turns = turns,
            LastTurnTtftMs = last.ToDictionary(p => p.Key, p => p.Value.TtftMs),
            LastTurnCachedShare = last.ToDictionary(p => p.Key, p => p.Value.PromptTokens > 0 ? (double)p.Value.CachedTokens / p.Value.PromptTokens : 0),
            ReuseOverNoReuse = Ratio(last, Reuse, NoReuse),
            SwapOverNoReuse = Ratio(last, Swap, NoReuse),
            PeerOverNoReuse = Ratio(last, Peer, NoReuse),
            AnswersIdentical = mismatch is null,
            FirstMismatch = mismatch,
            PeerAnswersIdentical = peer is { Skipped: null } && ours.Count > 0 ? FirstMismatch([ours[0], peer]) is null : null,
            SwapsConfirmed = swap?.Turns.Count(t => t.Swap is { KvThroughHost: true }) ?? 0,
            SwapsExpected = swap is null ? 0 : Math.Max(0, swap.Turns.Count - 1),
            PeerSkipped = peer?.Skipped,
        };
    }

    /// <summary>turn, prompt tokens, then per mode cached tokens and TTFT, the swap check, and whether our answers agree.</summary>
    public static TextTable Table(IReadOnlyList<ChatModeRun> modes)
    {
        ArgumentNullException.ThrowIfNull(modes);
        var ran = modes.Where(m => m.Skipped is null && m.Turns.Count > 0).ToList();
        var headers = new List<string> { "turn", "prompt tokens" };
        foreach (var mode in ran)
        {
            headers.Add($"{mode.Name} cached");
            headers.Add($"{mode.Name} TTFT ms");
        }

        var swap = ran.FirstOrDefault(m => m.Name == Swap);
        if (swap is not null)
        {
            headers.Add("swap before turn");
        }

        headers.Add("answers equal");
        var table = new TextTable([.. headers]);
        var ours = ran.Where(m => m.Ours).ToList();
        var turns = ran.Count == 0 ? 0 : ran.Max(m => m.Turns.Count);
        for (var i = 0; i < turns; i++)
        {
            var cells = new List<string> { (i + 1).ToString(C), PromptTokens(ran, i) };
            foreach (var mode in ran)
            {
                var turn = i < mode.Turns.Count ? mode.Turns[i] : null;
                cells.Add(turn is null ? "-" : turn.CachedTokens.ToString(C));
                cells.Add(turn is null ? "-" : turn.TtftMs.ToString("F1", C));
            }

            if (swap is not null)
            {
                cells.Add(i < swap.Turns.Count && swap.Turns[i].Swap is { } s ? s.Describe() : "-");
            }

            cells.Add(AnswersAgree(ours, i) ? "yes" : "NO");
            table.Add([.. cells]);
        }

        return table;
    }

    public static string SummaryText(ChatBenchSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var text = new StringBuilder();
        text.Append(C, $"turn {summary.Turns} TTFT: ").AppendJoin(", ", summary.LastTurnTtftMs.Select(p =>
            string.Create(C, $"{p.Key} {p.Value:F1} ms ({summary.LastTurnCachedShare[p.Key]:P0} of the prompt cached)"))).Append('\n');
        text.Append("reuse / no reuse: ").Append(Percent(summary.ReuseOverNoReuse))
            .Append(C, $" (target ≤ {ChatBenchSummary.ReuseTarget:P0}: {Met(summary.ReuseOverNoReuse, summary.ReuseTargetMet)})\n");
        text.Append("after a swap / no reuse: ").Append(Percent(summary.SwapOverNoReuse))
            .Append(C, $" (target ≤ {ChatBenchSummary.SwapTarget:P0}: {Met(summary.SwapOverNoReuse, summary.SwapTargetMet)})\n");
        text.Append(summary.PeerSkipped is { } skipped
            ? $"llama-server: skipped ({skipped})\n"
            : $"llama-server (cache_prompt) / our no reuse: {Percent(summary.PeerOverNoReuse)}; its answers {(summary.PeerAnswersIdentical == true ? "equal ours" : "differ from ours (informative only)")}\n");
        text.Append(C, $"swaps confirmed by the pool (evicted, restored, context released so the KV came back from host memory): {summary.SwapsConfirmed} of {summary.SwapsExpected}\n");
        text.Append(summary.AnswersIdentical
            ? "greedy answers: identical in every mode of ours\n"
            : $"greedy answers: MISMATCH from turn {summary.FirstMismatch!.Value.Turn} ({summary.FirstMismatch.Value.Mode} differs): the run FAILED\n");
        text.Append(summary.Passed ? "result: valid run\n" : "result: FAILED\n");
        return text.ToString();
    }

    /// <summary>summary.json: the ratios, targets, checks, the last turn per mode, and every turn of every mode.</summary>
    public static string SummaryJson(ChatBenchSummary summary, IReadOnlyList<ChatModeRun> modes, IReadOnlyDictionary<string, string> run)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(modes);
        ArgumentNullException.ThrowIfNull(run);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            foreach (var (key, value) in run)
            {
                json.WriteString(key, value);
            }

            json.WriteNumber("turns", summary.Turns);
            NumberOrNull(json, "reuse_over_no_reuse", summary.ReuseOverNoReuse);
            json.WriteNumber("reuse_target", ChatBenchSummary.ReuseTarget);
            json.WriteBoolean("reuse_target_met", summary.ReuseTargetMet);
            NumberOrNull(json, "swap_over_no_reuse", summary.SwapOverNoReuse);
            json.WriteNumber("swap_target", ChatBenchSummary.SwapTarget);
            json.WriteBoolean("swap_target_met", summary.SwapTargetMet);
            NumberOrNull(json, "peer_over_no_reuse", summary.PeerOverNoReuse);
            json.WriteBoolean("answers_identical", summary.AnswersIdentical);
            if (summary.FirstMismatch is { } mismatch)
            {
                json.WriteNumber("first_mismatch_turn", mismatch.Turn);
                json.WriteString("first_mismatch_mode", mismatch.Mode);
            }

            if (summary.PeerAnswersIdentical is { } peerSame)
            {
                json.WriteBoolean("peer_answers_identical", peerSame);
            }

            if (summary.PeerSkipped is { } skipped)
            {
                json.WriteString("peer_skipped", skipped);
            }

            json.WriteNumber("swaps_confirmed", summary.SwapsConfirmed);
            json.WriteNumber("swaps_expected", summary.SwapsExpected);
            json.WriteBoolean("passed", summary.Passed);
            json.WriteStartObject("modes");
            foreach (var mode in modes)
            {
                json.WriteStartObject(mode.Name);
                json.WriteString("description", mode.Description);
                if (mode.Skipped is { } why)
                {
                    json.WriteString("skipped", why);
                }

                json.WriteStartArray("turns");
                foreach (var t in mode.Turns)
                {
                    json.WriteStartObject();
                    json.WriteNumber("turn", t.Turn);
                    json.WriteNumber("prompt_tokens", t.PromptTokens);
                    json.WriteNumber("cached_tokens", t.CachedTokens);
                    json.WriteNumber("completion_tokens", t.CompletionTokens);
                    json.WriteNumber("ttft_ms", Math.Round(t.TtftMs, 3));
                    json.WriteNumber("total_ms", Math.Round(t.TotalMs, 3));
                    if (t.Swap is { } s)
                    {
                        json.WriteStartObject("swap");
                        json.WriteNumber("evictions", s.Evictions);
                        json.WriteNumber("restores", s.Restores);
                        json.WriteNumber("context_releases", s.ContextReleases);
                        json.WriteNumber("evict_attempts", s.EvictAttempts);
                        json.WriteBoolean("kv_through_host", s.KvThroughHost);
                        json.WriteEndObject();
                    }

                    json.WriteString("answer", t.Answer);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>bench-chat.md: the run's header lines, the table, the summary.</summary>
    public static string Markdown(IReadOnlyList<string> header, TextTable table, ChatBenchSummary summary)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(table);
        return "```\n" + string.Join('\n', header) + "\n```\n\n" + table.ToMarkdown() + "\n```\n" + SummaryText(summary) + "```\n";
    }

    /// <summary>The first turn where a mode's answer differs from the first mode's (turns missing in one count as differing).</summary>
    private static (int Turn, string Mode)? FirstMismatch(List<ChatModeRun> modes)
    {
        if (modes.Count < 2)
        {
            return null;
        }

        var turns = modes.Max(m => m.Turns.Count);
        for (var i = 0; i < turns; i++)
        {
            foreach (var mode in modes.Skip(1))
            {
                if (i >= mode.Turns.Count || i >= modes[0].Turns.Count || !string.Equals(mode.Turns[i].Answer, modes[0].Turns[i].Answer, StringComparison.Ordinal))
                {
                    return (i + 1, mode.Name);
                }
            }
        }

        return null;
    }

    private static bool AnswersAgree(List<ChatModeRun> ours, int i) =>
        ours.All(m => i < m.Turns.Count) && ours.All(m => string.Equals(m.Turns[i].Answer, ours[0].Turns[i].Answer, StringComparison.Ordinal));

    /// <summary>The first mode's prompt tokens; "a/b" when the modes disagree (their histories differ).</summary>
    private static string PromptTokens(List<ChatModeRun> ran, int i)
    {
        var counts = ran.Where(m => i < m.Turns.Count).Select(m => m.Turns[i].PromptTokens).Distinct().ToList();
        return string.Join('/', counts.Select(c => c.ToString(C)));
    }

    private static double? Ratio(Dictionary<string, ChatTurn> last, string over, string under) =>
        last.TryGetValue(over, out var a) && last.TryGetValue(under, out var b) && b.TtftMs > 0 ? a.TtftMs / b.TtftMs : null;

    private static string Percent(double? ratio) => ratio is { } r ? r.ToString("P1", C) : "n/a";

    private static string Met(double? ratio, bool met) => ratio is null ? "not measured" : met ? "met" : "MISSED";

    private static void NumberOrNull(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            json.WriteNumber(name, Math.Round(v, 4));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
