namespace ModelRouter.Cli.Benchmarks;

/// <summary>One test of a llama-bench run (`-o json`): what it ran and the rates it measured.</summary>
public sealed record LlamaBenchResult
{
    public required string ModelFile { get; init; }

    /// <summary>ggml backends llama-bench ran on, as it names them (e.g. "CPU", "CUDA").</summary>
    public required string Backends { get; init; }

    public string BuildCommit { get; init; } = "";

    public string CpuInfo { get; init; } = "";

    public int Threads { get; init; }

    public int BatchSize { get; init; }

    public int MicroBatchSize { get; init; }

    public int GpuLayers { get; init; }

    public string FlashAttention { get; init; } = "";

    public int PromptTokens { get; init; }

    public int GeneratedTokens { get; init; }

    public required Throughput Throughput { get; init; }

    /// <summary>llama-bench's own name of the test: pp512, tg128, or pp512+tg128.</summary>
    public string TestName => TestNames.Of(PromptTokens, GeneratedTokens);
}

/// <summary>llama-bench's test names, shared by our rows so that both sides line up.</summary>
public static class TestNames
{
    public static string Of(int promptTokens, int generatedTokens) => (promptTokens, generatedTokens) switch
    {
        ( > 0, 0) => $"pp{promptTokens}",
        (0, > 0) => $"tg{generatedTokens}",
        _ => $"pp{promptTokens}+tg{generatedTokens}",
    };
}
