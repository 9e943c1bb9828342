namespace ModelRouter.Routing.Fallback;

/// <summary>
/// One link of a chain and how hard to try it: a timeout per attempt (to the first token when streaming, to the
/// whole answer otherwise), retries of transient failures, and a circuit breaker whose open state is the member's
/// cooldown (while open, the chain skips the member at once).
/// </summary>
public sealed record FallbackMember(IChatBackend Backend)
{
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries after the first attempt (transient failures only: overload, rate limit, 5xx, broken stream, timeout).</summary>
    public int Retries { get; init; } = 1;

    /// <summary>Delay before the first retry (doubling after); a rate limit's Retry-After wins when it is longer.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest Retry-After honoured before giving the request to the next member instead.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Consecutive-failure ratio over <see cref="BreakerSamplingDuration"/> that opens the breaker.</summary>
    public double BreakerFailureRatio { get; init; } = 0.5;

    /// <summary>Fewest attempts in the sampling window before the breaker may open.</summary>
    public int BreakerMinimumThroughput { get; init; } = 4;

    public TimeSpan BreakerSamplingDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a failing member is skipped (the breaker's open time) before it is tried again.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromSeconds(30);
}
