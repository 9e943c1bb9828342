namespace ModelRouter.Cli.Benchmarks.Swap;

/// <summary>What `modelrouter bench-swap` measures and where it writes.</summary>
public sealed record SwapBenchSettings(
    IReadOnlyList<string> Models,
    int Cycles,
    int Threads,
    string? OutputDirectory,
    string CommandLine,
    bool CpuMapImage = false,
    bool CpuPagePool = true,
    int EvictedMilliseconds = 0)
{
    public const string Prompt = "Once upon a time";
}
