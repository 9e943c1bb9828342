namespace ModelRouter.Routing.Fallback;

/// <summary>Why an upstream failed, which decides whether retrying it is worthwhile.</summary>
public enum UpstreamFailure
{
    /// <summary>HTTP 429: slow down (retried after its Retry-After, then the chain moves on).</summary>
    RateLimited,

    /// <summary>HTTP 503 or 529: the upstream is overloaded.</summary>
    Overloaded,

    /// <summary>Other HTTP 5xx.</summary>
    ServerError,

    /// <summary>HTTP 4xx other than 429: our request is wrong; retrying the same member will not help.</summary>
    Rejected,

    /// <summary>The response was not the expected stream (bad JSON, no data).</summary>
    Malformed,
}

/// <summary>An upstream's failure, with the HTTP status and any Retry-After it sent.</summary>
public sealed class UpstreamException : Exception
{
    public UpstreamException()
    {
    }

    public UpstreamException(string message)
        : base(message)
    {
    }

    public UpstreamException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public UpstreamException(string member, UpstreamFailure failure, int? status, TimeSpan? retryAfter, string message)
        : base($"{member}: {failure}{(status is { } s ? $" (HTTP {s})" : string.Empty)}: {message}")
    {
        Member = member;
        Failure = failure;
        Status = status;
        RetryAfter = retryAfter;
    }

    public string? Member { get; }

    public UpstreamFailure Failure { get; }

    public int? Status { get; }

    public TimeSpan? RetryAfter { get; }

    /// <summary>Whether trying the same member again may succeed.</summary>
    public bool IsTransient => Failure is not UpstreamFailure.Rejected;
}
