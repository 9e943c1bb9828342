namespace ModelRouter.Cli.Benchmarks;

/// <summary>
/// One bench-decode configuration, applied to llama-bench and to us alike. Batch sizes are llama-bench's defaults
/// (n_batch 2048, n_ubatch 512; our context derives n_ubatch = min(n_batch, 512) the same way).
/// </summary>
public sealed record BenchDecodeSettings
{
    public const int LlamaBenchBatchSize = 2048;

    public int PromptTokens { get; init; } = 512;

    public int GeneratedTokens { get; init; } = 128;

    public int Threads { get; init; } = Environment.ProcessorCount;

    public int Repetitions { get; init; } = 5;

    /// <summary>Times llama-bench and our measurement alternate; samples are pooled (evens out a busy machine).</summary>
    public int Rounds { get; init; } = 1;

    /// <summary>Layers offloaded to the GPU (llama-bench -ngl); null keeps both sides' defaults.</summary>
    public int? GpuLayers { get; init; }

    /// <summary>Also time generation through the generator with greedy sampling (our side only).</summary>
    public bool IncludeGreedy { get; init; } = true;

    /// <summary>Also compare our tg with llama.cpp's calls made directly in this process, alternating (load-robust).</summary>
    public bool IncludeInProcess { get; init; } = true;

    /// <summary>Seed of the random token ids (throughput does not depend on them; a seed keeps runs identical).</summary>
    public int Seed { get; init; } = 1234;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(PromptTokens, 1, "--prompt-tokens");
        ArgumentOutOfRangeException.ThrowIfLessThan(GeneratedTokens, 2, "--gen-tokens");
        ArgumentOutOfRangeException.ThrowIfLessThan(Threads, 1, "--threads");
        ArgumentOutOfRangeException.ThrowIfLessThan(Repetitions, 1, "--repetitions");
        ArgumentOutOfRangeException.ThrowIfLessThan(Rounds, 1, "--rounds");
    }
}
