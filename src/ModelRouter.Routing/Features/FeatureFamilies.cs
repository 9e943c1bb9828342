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
    /// Position-tagged words: the instruction's first three words each with its position, and its last word and last
    /// word pair ("... ?", "... the passage"), hashed into their own rows. The opening and the ending of a request
    /// say what is asked ("give me ideas", "write a story", "summarize"); the middle says about what.
    /// </summary>
    Position = 32,

    /// <summary>
    /// Each instruction word crossed with whether a passage follows: "what" over a passage (extraction) and "what"
    /// alone (an open question) get separate rows besides the shared unigram row.
    /// </summary>
    PassageConjunction = 64,

    /// <summary>
    /// How much of the instruction reappears in the passage (bucketed share of instruction words found among the
    /// passage's first words, and whether the passage's first word is in the instruction): a generic "What is X?"
    /// over an article about X reads like summarisation, a specific question like extraction.
    /// </summary>
    Overlap = 128,

    /// <summary>The passage's first words as unigrams in their own family (what the passage is).</summary>
    PassageWords = 256,

    /// <summary>
    /// What the prompt is made of and what it asks for (format version 4): pasted code and its language markers (the
    /// fence's info word, the first token of each code line), quoted passages, lists, display math and the density of
    /// math notation, pasted prose, and the output the request names (story, poem, letter, list, code, proof,
    /// summary, extraction), each its own row.
    /// </summary>
    Structure = 512,

    /// <summary>Unigrams, bigrams, first word and shape: about 0.9 µs a decision, 0.005 lower macro-F1.</summary>
    Basic = Unigrams | Bigrams | FirstWord | Shape,

    /// <summary>
    /// What train-router uses (<see cref="FeatureSettings.Families"/>'s default): every family but trigrams. The four
    /// newer families (position, passage conjunction, overlap, passage words) raise 5-fold cross-validated macro-F1 by
    /// about 0.004 over <see cref="Basic"/> (0.8366 / 0.8340 to 0.8421 / 0.8376, fold seeds 1 / 2, format version 3);
    /// trigrams on top tie on CV (0.8415 / 0.8403) for ~40 more rows a prompt (~15 % of a decision), so they stay in
    /// <see cref="All"/> only. The newer families used to be opt-in because they cost 0.7-1.0 µs more per decision,
    /// past the 2 µs budget; with the bitmask tokenizer they fit (docs/benchmarks.md#router).
    /// </summary>
    Default = Unigrams | Bigrams | FirstWord | Shape | Position | PassageConjunction | Overlap | PassageWords | Structure,

    /// <summary>Every family (the default plus trigrams).</summary>
    All = Default | Trigrams,
}
