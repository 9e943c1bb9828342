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
    /// <summary>llama-server router mode (<c>--models-max 1</c>): from a streamed request for this model while another
    /// one is loaded to its first streamed token; null when not measured (<see cref="RouterSkipped"/> says why).</summary>
    public double? RouterSwitchToFirstTokenMs { get; init; }

    /// <summary>The same streamed request through the router while this model is already loaded (HTTP included).</summary>
    public double? RouterResidentToFirstTokenMs { get; init; }

    /// <summary>Why the router-mode switch was not measured, or null.</summary>
    public string? RouterSkipped { get; init; }

    /// <summary>The model the router switched away from (another benchmarked model, or this file under a second name).</summary>
    public string? RouterOther { get; init; }

    /// <summary>Greedy decode tokens/s of the resident model before any evict, and after an evict and restore.</summary>
    public double DecodeTokensPerSecondBefore { get; init; }

    public double DecodeTokensPerSecondAfterRestore { get; init; }

    public double DecodeRatio => DecodeTokensPerSecondBefore > 0 ? DecodeTokensPerSecondAfterRestore / DecodeTokensPerSecondBefore : 0;

    /// <summary>What a router-mode switch costs beyond a resident model's first token (ours, in-process).</summary>
    public double? RouterOverheadMs => RouterSwitchToFirstTokenMs - ResidentToFirstTokenMs;

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
