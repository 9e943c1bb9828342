namespace ModelRouter.Routing.Fallback;

/// <summary>
/// One remote of a chain and how hard to try it: a timeout per attempt (to the first piece of text), retries of
/// transient failures, and a circuit breaker whose open state is the remote's cooldown (while open, the chain skips it
/// without sending anything). Call <see cref="Validate"/> (the chain does) before use.
/// </summary>
public sealed record RemoteEndpoint(string Name, Uri Endpoint, string Model)
{
    public string? ApiKey { get; init; }

    /// <summary>Longest wait for the first piece of text of one attempt; after it the stream has no deadline.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries after the first attempt (transient failures only: overload, rate limit, 5xx, broken connection, timeout).</summary>
    public int Retries { get; init; } = 1;

    /// <summary>Delay before the first retry (doubling after); a Retry-After sent by the upstream replaces it.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest Retry-After worth waiting for; a longer one hands the request to the next remote at once.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a failing remote is skipped (the breaker's open time) before it is tried again.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Share of failed attempts within <see cref="BreakerSamplingDuration"/> that opens the breaker.</summary>
    public double BreakerFailureRatio { get; init; } = 0.5;

    /// <summary>Fewest attempts in the sampling window before the breaker may open (so one failure is not a verdict).</summary>
    public int BreakerMinimumThroughput { get; init; } = 4;

    public TimeSpan BreakerSamplingDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The SDK's base address: OpenAI-compatible servers serve the chat API under /v1.</summary>
    internal Uri ApiBase => new(Endpoint.AbsoluteUri.TrimEnd('/') + "/v1");

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting that is out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException("A remote needs a name.", nameof(Name));
        }

        ArgumentNullException.ThrowIfNull(Endpoint);
        if (!Endpoint.IsAbsoluteUri || (Endpoint.Scheme != Uri.UriSchemeHttp && Endpoint.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"Remote '{Name}': the endpoint must be an absolute http or https URL (was '{Endpoint}').", nameof(Endpoint));
        }

        if (string.IsNullOrWhiteSpace(Model))
        {
            throw new ArgumentException($"Remote '{Name}': a model name is required.", nameof(Model));
        }

        // The lower bounds are Polly's own (its options reject shorter spans with a less helpful message).
        Within(AttemptTimeout, TimeSpan.FromMilliseconds(10), nameof(AttemptTimeout));
        Within(RetryDelay, TimeSpan.FromTicks(1), nameof(RetryDelay));
        Within(Cooldown, TimeSpan.FromMilliseconds(500), nameof(Cooldown));
        Within(BreakerSamplingDuration, TimeSpan.FromMilliseconds(500), nameof(BreakerSamplingDuration));
        if (MaxRetryAfter < TimeSpan.Zero || MaxRetryAfter > TimeSpan.FromDays(1))
        {
            throw new ArgumentException($"Remote '{Name}': MaxRetryAfter must be between zero and a day (was {MaxRetryAfter}).", nameof(MaxRetryAfter));
        }

        if (Retries < 0)
        {
            throw new ArgumentException($"Remote '{Name}': Retries must not be negative (was {Retries}).", nameof(Retries));
        }

        if (!(BreakerFailureRatio > 0 && BreakerFailureRatio <= 1))
        {
            throw new ArgumentException($"Remote '{Name}': BreakerFailureRatio must be in (0, 1] (was {BreakerFailureRatio}).", nameof(BreakerFailureRatio));
        }

        // Polly's circuit breaker needs at least two attempts in a window before it judges.
        if (BreakerMinimumThroughput < 2)
        {
            throw new ArgumentException($"Remote '{Name}': BreakerMinimumThroughput must be at least 2 (was {BreakerMinimumThroughput}).", nameof(BreakerMinimumThroughput));
        }
    }

    private void Within(TimeSpan value, TimeSpan least, string name)
    {
        if (value < least || value > TimeSpan.FromDays(1))
        {
            throw new ArgumentException($"Remote '{Name}': {name} must be positive, at least {least.TotalMilliseconds} ms and at most a day (was {value}).", name);
        }
    }
}
