namespace ModelRouter.Routing.Features;

/// <summary>How text becomes features; fixed at training time and stored in the classifier file.</summary>
public sealed record FeatureSettings
{
    /// <summary>Instruction tokens past this many are counted but not featurised.</summary>
    public const int MaxInstructionTokensLimit = 512;

    /// <summary>Passage tokens past this many are counted but not pooled.</summary>
    public const int MaxPassageTokensLimit = 4096;

    /// <summary>log2 of the number of hashed sparse rows (collisions are rare below ~1 feature per 4 rows).</summary>
    public int HashBits { get; init; } = 18;

    public FeatureFamilies Families { get; init; } = FeatureFamilies.Default;

    /// <summary>
    /// Instruction tokens that are featurised; prompts of ~64 tokens are well inside, and the cap keeps the
    /// stack buffers fixed in size.
    /// </summary>
    public int MaxInstructionTokens { get; init; } = 256;

    /// <summary>
    /// Passage tokens whose embedding rows are pooled: the first few hundred words say what a passage is about, and
    /// the cap bounds the cost of a decision on a 10-page paste.
    /// </summary>
    public int MaxPassageTokens { get; init; } = 256;

    /// <summary>Throws when a value is outside what the classifier supports.</summary>
    public void Validate()
    {
        if (HashBits is < 8 or > 24)
        {
            throw new ArgumentOutOfRangeException(nameof(HashBits), HashBits, "hash bits must be within 8..24");
        }

        if (MaxInstructionTokens is < 1 or > MaxInstructionTokensLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxInstructionTokens), MaxInstructionTokens, $"must be within 1..{MaxInstructionTokensLimit}");
        }

        if (MaxPassageTokens is < 0 or > MaxPassageTokensLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPassageTokens), MaxPassageTokens, $"must be within 0..{MaxPassageTokensLimit}");
        }
    }
}
