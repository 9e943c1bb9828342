using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>A request the pipeline refused or could not serve: a stable kind each door maps to its wire, and why.</summary>
public sealed class RequestException : Exception
{
    public RequestException()
    {
    }

    public RequestException(string message)
        : base(message)
    {
    }

    public RequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public RequestException(RequestError error, string message, TimeSpan? retryAfter = null)
        : base(message)
    {
        Error = error;
        RetryAfter = retryAfter;
    }

    public RequestError Error { get; } = RequestError.Internal;

    /// <summary>When the client may try again (overload), if known.</summary>
    public TimeSpan? RetryAfter { get; }
}
