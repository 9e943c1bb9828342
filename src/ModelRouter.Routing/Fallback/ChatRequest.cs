namespace ModelRouter.Routing.Fallback;

/// <summary>One completion request as a chain member sees it.</summary>
public sealed record ChatRequest(string Prompt)
{
    public int MaxTokens { get; init; } = 256;

    public float Temperature { get; init; }

    /// <summary>
    /// What the chain's local member needs to run this request in-process (for the server: the model its policy chose,
    /// the sampling settings, where the statistics go); remote members ignore it. It rides on the request because the
    /// local choice changes per request while the chain, whose members keep their circuit-breaker state, does not.
    /// </summary>
    public object? LocalContext { get; init; }
}
