namespace ModelRouter.Routing.Fallback;

/// <summary>One try of one member: which, whether it answered, and what happened (for logs and explanations).</summary>
public sealed record ChainAttempt(string Member, bool Succeeded, string Outcome);

/// <summary>A completed request: the member that answered, its text, and every attempt made on the way.</summary>
public sealed record ChainResult(string Member, string Text, IReadOnlyList<ChainAttempt> Attempts);

/// <summary>Every member of a chain failed (the attempts say how each did).</summary>
public sealed class FallbackExhaustedException : Exception
{
    public FallbackExhaustedException()
    {
    }

    public FallbackExhaustedException(string message)
        : base(message)
    {
    }

    public FallbackExhaustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public FallbackExhaustedException(IReadOnlyList<ChainAttempt> attempts, Exception? last)
        : base("every member of the fallback chain failed: " + string.Join("; ", attempts.Select(a => $"{a.Member}: {a.Outcome}")), last)
    {
        Attempts = attempts;
    }

    public IReadOnlyList<ChainAttempt> Attempts { get; } = [];
}
