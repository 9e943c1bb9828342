namespace ModelRouter.Routing.Fallback;

/// <summary>One completion request as a chain member sees it.</summary>
public sealed record ChatRequest(string Prompt)
{
    public int MaxTokens { get; init; } = 256;

    public float Temperature { get; init; }
}
