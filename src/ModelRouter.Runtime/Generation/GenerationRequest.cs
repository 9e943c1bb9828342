namespace ModelRouter.Runtime.Generation;

/// <summary>One generation: prompt, sampling, limits and stop strings.</summary>
public sealed record GenerationRequest
{
    public GenerationRequest(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Prompt = prompt;
    }

    public string Prompt { get; }

    public SamplingParameters Sampling { get; init; } = SamplingParameters.Greedy;

    /// <summary>Most tokens to generate; must be at least 1.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Generation stops before any of these strings; the stop string itself is not returned.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Prepend BOS as llama.cpp's server does (true), or send the prompt's tokens alone.</summary>
    public bool AddBeginningOfSequence { get; init; } = true;

    /// <summary>Recognise special-token text (chat templates) in the prompt.</summary>
    public bool ParseSpecialTokens { get; init; }

    /// <summary>
    /// Special tokens whose text the output keeps (a chat format's tool-call markers such as <c>&lt;tool_call&gt;</c>,
    /// llama-server's preserved tokens): each text that is one token of the model's vocabulary is rendered when sampled,
    /// where other special tokens render as nothing. Texts that are not one token are ignored.
    /// </summary>
    public IReadOnlyList<string> PreservedTokens { get; init; } = [];

    internal void Validate()
    {
        if (MaxTokens < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "MaxTokens must be at least 1.");
        }

        Sampling.Validate();
        foreach (var stop in StopStrings)
        {
            if (string.IsNullOrEmpty(stop))
            {
                throw new ArgumentException("Stop strings must not be empty.", nameof(StopStrings));
            }
        }
    }
}
