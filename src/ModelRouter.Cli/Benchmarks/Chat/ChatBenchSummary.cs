namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>
/// What a bench-chat run comes to: the last turn's TTFT per mode and its ratios to the same turn without reuse (targets:
/// reuse ≤ 20 %, after a swap ≤ 30 %), whether every mode of ours gave the same greedy answers (a mismatch fails the
/// run), and whether every swap between turns was confirmed by the pool's counters (one that was not fails it too).
/// </summary>
public sealed record ChatBenchSummary
{
    public const double ReuseTarget = 0.20;
    public const double SwapTarget = 0.30;

    public required int Turns { get; init; }

    /// <summary>The last turn's TTFT (ms) per mode that ran, by mode name.</summary>
    public required IReadOnlyDictionary<string, double> LastTurnTtftMs { get; init; }

    /// <summary>The last turn's cached share of its prompt (cached / prompt tokens) per mode that ran.</summary>
    public required IReadOnlyDictionary<string, double> LastTurnCachedShare { get; init; }

    /// <summary>Reuse on over reuse off, last turn; null when either did not run.</summary>
    public double? ReuseOverNoReuse { get; init; }

    /// <summary>Reuse with a swap before every turn over reuse off, last turn; null when either did not run.</summary>
    public double? SwapOverNoReuse { get; init; }

    /// <summary>llama-server (cache_prompt) over our reuse off, last turn; null when it did not run.</summary>
    public double? PeerOverNoReuse { get; init; }

    /// <summary>Every mode of ours answered every turn with the same text.</summary>
    public required bool AnswersIdentical { get; init; }

    /// <summary>The first turn whose answer differs between two modes of ours, and the mode that differs from the first mode.</summary>
    public (int Turn, string Mode)? FirstMismatch { get; init; }

    /// <summary>The peer's answers against ours: null when it did not run (informative: a different server may render or sample differently).</summary>
    public bool? PeerAnswersIdentical { get; init; }

    /// <summary>Swaps the pool's counters confirmed (evicted, restored, KV through host memory), of those expected.</summary>
    public int SwapsConfirmed { get; init; }

    public int SwapsExpected { get; init; }

    /// <summary>Why the peer did not run, when it did not.</summary>
    public string? PeerSkipped { get; init; }

    public bool ReuseTargetMet => ReuseOverNoReuse is { } r && r <= ReuseTarget;

    public bool SwapTargetMet => SwapOverNoReuse is { } r && r <= SwapTarget;

    /// <summary>The run is valid: identical answers and every swap confirmed (the targets are reported, not enforced).</summary>
    public bool Passed => AnswersIdentical && SwapsConfirmed == SwapsExpected;
}
