namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>
/// One chat turn as the client saw it: usage (prompt, cached and completion tokens), the time from sending the request
/// to the first content delta (TTFT) and to the end of the stream, and the answer's text.
/// </summary>
public sealed record ChatTurn(int Turn, int PromptTokens, int CachedTokens, int CompletionTokens, double TtftMs, double TotalMs, string Answer)
{
    /// <summary>What the pool did between the previous turn and this one (the swap mode only; null elsewhere).</summary>
    public ChatSwap? Swap { get; init; }
}

/// <summary>
/// The pool's own counters across one admin evict and the next turn: the evict happened (<see cref="Evictions"/>), the
/// turn restored the model (<see cref="Restores"/>), and the restore released the model's contexts for room
/// (<see cref="ContextReleases"/>), so the KV cells the turn reused came back from the host tier, not from a context
/// that stayed alive through the swap.
/// </summary>
public sealed record ChatSwap(int Evictions, int Restores, int ContextReleases, int EvictAttempts)
{
    /// <summary>Evicted, restored, and the KV saved to host memory and loaded back.</summary>
    public bool KvThroughHost => Evictions > 0 && Restores > 0 && ContextReleases > 0;

    public string Describe() => KvThroughHost
        ? "evict+restore, KV via host"
        : $"NOT CONFIRMED (evictions {Evictions}, restores {Restores}, context releases {ContextReleases})";
}

/// <summary>One mode's turns (reuse on, reuse off, swap, the peer), or why it was skipped.</summary>
public sealed record ChatModeRun(string Name, string Description, IReadOnlyList<ChatTurn> Turns)
{
    /// <summary>Why the mode did not run (its <see cref="Turns"/> are empty); null when it ran.</summary>
    public string? Skipped { get; init; }

    /// <summary>A mode of ours (its answers must equal the other modes' of ours), not an outside peer.</summary>
    public bool Ours { get; init; } = true;
}
