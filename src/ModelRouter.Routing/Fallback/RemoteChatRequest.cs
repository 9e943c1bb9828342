using ModelRouter.Runtime.Chat;

namespace ModelRouter.Routing.Fallback;

/// <summary>
/// One chat completion as every remote member of a chain receives it. It carries no model and no key: those belong to
/// each <see cref="RemoteEndpoint"/>, so the same request can move down the chain unchanged.
/// </summary>
public sealed record RemoteChatRequest(IReadOnlyList<ChatTurn> Messages, int MaxTokens)
{
    public float? Temperature { get; init; }

    public float? TopP { get; init; }

    public IReadOnlyList<string> Stop { get; init; } = [];

    public long? Seed { get; init; }

    /// <summary>Who asked, passed to the upstream as its end-user id (for the provider's abuse tracking).</summary>
    public string? User { get; init; }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> for a request no upstream could answer. The chain calls this before trying
    /// any member, so a bad request is the caller's error rather than a failure counted against every remote's breaker.
    /// </summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Messages);
        ArgumentNullException.ThrowIfNull(Stop);
        if (Messages.Count == 0)
        {
            throw new ArgumentException("A chat request needs at least one message.", nameof(Messages));
        }

        if (MaxTokens <= 0)
        {
            throw new ArgumentException($"MaxTokens must be positive (was {MaxTokens}).", nameof(MaxTokens));
        }

        foreach (var turn in Messages)
        {
            if (!IsKnownRole(turn.Role))
            {
                throw new ArgumentException(
                    $"A remote chat message's role must be system, developer, user or assistant; '{turn.Role}' has no plain-text equivalent upstream.",
                    nameof(Messages));
            }
        }
    }

    internal static bool IsKnownRole(string? role) =>
        role is not null && (role.Equals("system", StringComparison.OrdinalIgnoreCase) || role.Equals("developer", StringComparison.OrdinalIgnoreCase)
            || role.Equals("user", StringComparison.OrdinalIgnoreCase) || role.Equals("assistant", StringComparison.OrdinalIgnoreCase));
}
