namespace ModelRouter.Runtime.Generation;

/// <summary>The outcome of one generation: why it stopped, how many tokens, how fast.</summary>
public sealed record GenerationResult(
    FinishReason FinishReason,
    int PromptTokens,
    int GeneratedTokens,
    TimeSpan? TimeToFirstToken,
    double DecodeTokensPerSecond)
{
    /// <summary>Prompt tokens served from cached KV cells (prefix reuse) instead of being decoded.</summary>
    public int CachedPromptTokens { get; init; }

    internal static GenerationResult From(GenerationSequence sequence) =>
        new(sequence.FinishReason ?? Generation.FinishReason.Cancelled, sequence.PromptTokenCount, sequence.GeneratedTokenCount,
            sequence.TimeToFirstToken, sequence.DecodeTokensPerSecond)
        { CachedPromptTokens = sequence.CachedPromptTokenCount };
}
