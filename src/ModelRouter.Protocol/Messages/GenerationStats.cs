namespace ModelRouter.Protocol;

/// <summary>The statistics of a finished generation (done frame). Durations are nanoseconds on the wire.</summary>
public readonly record struct GenerationStats
{
    public FinishReason FinishReason { get; init; }

    public int PromptTokens { get; init; }

    public int GeneratedTokens { get; init; }

    /// <summary>
    /// Prompt tokens whose KV cache was reused from an earlier request sharing the prefix (not decoded again); at most
    /// PromptTokens - 1, since the last prompt token is always decoded. Version 3 sessions only (0 in 1 and 2).
    /// </summary>
    public int CachedPromptTokens { get; init; }

    /// <summary>Generated tokens per second of decoding (after the first token).</summary>
    public float TokensPerSecond { get; init; }

    /// <summary>Time spent routing (0 when the model was named).</summary>
    public long RouteNanos { get; init; }

    /// <summary>Time queued before a worker took the request.</summary>
    public long QueueWaitNanos { get; init; }

    /// <summary>Time spent bringing the model onto the GPU for this request (0 when it was resident).</summary>
    public long SwapNanos { get; init; }

    /// <summary>From the server receiving the request to the first token leaving.</summary>
    public long TimeToFirstTokenNanos { get; init; }

    /// <summary>From the server receiving the request to the done frame.</summary>
    public long TotalNanos { get; init; }

    /// <summary>The router's stage that named the task (<see cref="RouteStage.None"/> when the model was named or in a version 1 session).</summary>
    public RouteStage Stage { get; init; }

    /// <summary>
    /// That stage's confidence in [0, 1], carried on the wire in steps of 1/65535 (0 with <see cref="RouteStage.None"/>).
    /// </summary>
    public float StageConfidence { get; init; }

    public TimeSpan RouteTime => Durations.FromNanos(RouteNanos);

    public TimeSpan QueueWait => Durations.FromNanos(QueueWaitNanos);

    public TimeSpan SwapTime => Durations.FromNanos(SwapNanos);

    public TimeSpan TimeToFirstToken => Durations.FromNanos(TimeToFirstTokenNanos);

    public TimeSpan TotalTime => Durations.FromNanos(TotalNanos);
}

/// <summary>Nanosecond conversions (the wire's unit for every duration).</summary>
public static class Durations
{
    public static TimeSpan FromNanos(long nanos) => TimeSpan.FromTicks(nanos / 100);

    public static long ToNanos(TimeSpan time) => time.Ticks * 100;

    /// <summary>Nanoseconds between two <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> values.</summary>
    public static long NanosBetween(long startTimestamp, long endTimestamp) =>
        (long)((endTimestamp - startTimestamp) * (1_000_000_000.0 / System.Diagnostics.Stopwatch.Frequency));
}
