namespace ModelRouter.Runtime.Generation;

/// <summary>How the next token is chosen. Temperature 0 (or below) is greedy decoding.</summary>
public readonly record struct SamplingParameters
{
    public SamplingParameters()
    {
    }

    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep the K most likely tokens; 0 disables.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Nucleus sampling mass; 1 disables.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens below this share of the best token's probability; 0 disables.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Penalty on recently generated tokens; 1 disables.</summary>
    public float RepetitionPenalty { get; init; } = 1.0f;

    /// <summary>How many recent tokens the repetition penalty looks at.</summary>
    public int RepetitionLastN { get; init; } = 64;

    /// <summary>Random seed; the same seed, prompt and parameters give the same tokens.</summary>
    public uint Seed { get; init; } = 0xFFFFFFFF;

    /// <summary>
    /// A GBNF grammar (start rule <c>root</c>) every sampled token must keep the output inside: llama.cpp's grammar
    /// sampler judges each sampled token (libmr_common's grammar gate). Null or empty: unconstrained. Build one with
    /// <see cref="StructuredOutput"/>.
    /// </summary>
    public string? Grammar { get; init; }

    /// <summary>
    /// The <see cref="Grammar"/> applies only from the first match of one of these regular expressions over the
    /// generated text on (llama.cpp's lazy grammar: a chat format's tool call may follow free text). Null or empty: it
    /// applies from the first token.
    /// </summary>
    public IReadOnlyList<string>? GrammarTriggers { get; init; }

    /// <summary>
    /// Text the prompt already ends with that the <see cref="Grammar"/> starts with (a chat format's generation prompt):
    /// its tokens are fed to the grammar before the first sample. Null: none.
    /// </summary>
    public string? GrammarPrefill { get; init; }

    /// <summary>Greedy decoding: always the most likely token.</summary>
    public static SamplingParameters Greedy { get; } = new() { Temperature = 0 };

    internal void Validate()
    {
        if (!float.IsFinite(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be a finite number.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(TopK, nameof(TopK));
        if (!(TopP is > 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        }

        if (!(MinP is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "MinP must be in [0, 1).");
        }

        if (!(RepetitionPenalty is > 0 and < 100) || !float.IsFinite(RepetitionPenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, "RepetitionPenalty must be in (0, 100).");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(RepetitionLastN, nameof(RepetitionLastN));
    }
}
