namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>One bench-chat configuration.</summary>
public sealed record ChatBenchSettings
{
    /// <summary>The GGUF served (it needs a chat template in its metadata, as a forged model has).</summary>
    public required string ModelPath { get; init; }

    /// <summary>Chat turns; turn N sends the N−1 earlier exchanges and a new user message.</summary>
    public int Turns { get; init; } = 10;

    /// <summary>Most tokens per answer (greedy; the model may stop earlier).</summary>
    public int MaxTokens { get; init; } = 32;

    /// <summary>CPU threads per decode, ours and the peer's.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Context cells per sequence of our servers (Scheduler:ContextPerSequence) and the peer's context.</summary>
    public int ContextPerSequence { get; init; } = 2048;

    /// <summary>
    /// The chat template for a model whose metadata has none (a built-in name such as chatml, or Jinja text): ours get
    /// it as Models:0:ChatTemplate, llama-server as --chat-template. Null: the model's own.
    /// </summary>
    public string? ChatTemplate { get; init; }

    /// <summary>llama-server to run as the fourth column; null skips it (<see cref="PeerSkipped"/> says why).</summary>
    public string? LlamaServerPath { get; init; }

    /// <summary>Why the peer does not run, when <see cref="LlamaServerPath"/> is null.</summary>
    public string? PeerSkipped { get; init; }

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Turns, 2, "--turns");
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTokens, 1, "--max-tokens");
        ArgumentOutOfRangeException.ThrowIfLessThan(Threads, 1, "--threads");
        ArgumentOutOfRangeException.ThrowIfLessThan(ContextPerSequence, 256, "--context");
        if (!File.Exists(ModelPath))
        {
            throw new FileNotFoundException($"model file '{ModelPath}' does not exist", ModelPath);
        }

        if (LlamaServerPath is { } peer && !File.Exists(peer))
        {
            throw new FileNotFoundException($"llama-server '{peer}' does not exist", peer);
        }
    }
}
