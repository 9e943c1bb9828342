namespace ModelRouter.Routing.Features;

/// <summary>Which hashed sparse features the classifier uses (stored in the classifier file).</summary>
[Flags]
public enum FeatureFamilies
{
    None = 0,

    /// <summary>Each instruction word.</summary>
    Unigrams = 1,

    /// <summary>Adjacent instruction word pairs.</summary>
    Bigrams = 2,

    /// <summary>Adjacent instruction word triples.</summary>
    Trigrams = 4,

    /// <summary>The instruction's first word ("write", "summarize", "what"), which carries much of the intent.</summary>
    FirstWord = 8,

    /// <summary>Whether a passage follows the instruction, and log-bucketed lengths of both.</summary>
    Shape = 16,

    /// <summary>
    /// What train-router uses: trigrams measured within the seed-to-seed spread of held-out macro-F1 without them
    /// (docs/benchmarks.md#router) and cost about a tenth of a decision, so they are left out by default.
    /// </summary>
    Default = Unigrams | Bigrams | FirstWord | Shape,

    All = Unigrams | Bigrams | Trigrams | FirstWord | Shape,
}
