namespace ModelRouter.Protocol;

/// <summary>A generate request: a raw prompt, with an explicit model or none to let the router choose with the hints.</summary>
public sealed class GenerateRequest : GenerationOptions
{
    /// <summary>The prompt text (non-empty, at most the server's max prompt bytes in UTF-8).</summary>
    public required string Prompt { get; init; }
}
