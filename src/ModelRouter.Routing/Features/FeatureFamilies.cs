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

    Default = Unigrams | Bigrams | Trigrams | FirstWord | Shape,
}
