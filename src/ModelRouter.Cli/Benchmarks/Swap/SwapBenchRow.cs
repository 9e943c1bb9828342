namespace ModelRouter.Cli.Benchmarks.Swap;

/// <summary>One model's bench-swap results; times are medians over the cycles, in milliseconds.</summary>
public sealed record SwapBenchRow(
    string Model,
    string Shape,
    long FileBytes,
    long WeightBytes,
    double ReferenceGigabytesPerSecond,
    double LoadMmapToFirstTokenMs,
    double LoadNoMmapToFirstTokenMs,
    double RestoreToFirstTokenMs,
    double RestoreOnlyMs,
    double EvictMs,
    bool TokensEqual,
    double ResidentToFirstTokenMs,
    long EvictRssDropBytes,
    long RestoreRssGainBytes)
{
    /// <summary>Weight bytes moved per second by the restore alone.</summary>
    public double RestoreGigabytesPerSecond => WeightBytes / (RestoreOnlyMs / 1000.0) / 1e9;

    /// <summary>Restore bandwidth as a share of the physical reference.</summary>
    public double ShareOfReference => RestoreGigabytesPerSecond / ReferenceGigabytesPerSecond;

    /// <summary>What a switch costs beyond a resident model's first token: ours, and llama.cpp's mmap reload.</summary>
    public double RestoreOverheadMs => RestoreToFirstTokenMs - ResidentToFirstTokenMs;

    public double ReloadOverheadMs => LoadMmapToFirstTokenMs - ResidentToFirstTokenMs;

    /// <summary>How many times faster ours is than llama.cpp's best reload (mmap from page cache).</summary>
    public double SpeedupOverLlamaCpp => Math.Min(LoadMmapToFirstTokenMs, LoadNoMmapToFirstTokenMs) / RestoreToFirstTokenMs;
}
