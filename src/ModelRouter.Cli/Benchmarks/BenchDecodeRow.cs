namespace ModelRouter.Cli.Benchmarks;

/// <summary>One line of the bench-decode table: one test of one model, llama-bench's rate and ours.</summary>
/// <param name="Test">llama-bench's test name (pp512, tg128); our extra rows add a note in parentheses.</param>
/// <param name="Peer">llama-bench's figure the row is compared with; null when there is none.</param>
public sealed record BenchDecodeRow(string Model, string Backend, int Threads, string Test, Throughput? Peer, Throughput Ours)
{
    /// <summary>Ours over llama-bench's; null without a peer figure.</summary>
    public ThroughputRatio? Ratio => Peer is null ? null : ThroughputRatio.Of(Ours, Peer);

    /// <summary>Ours over llama-bench's fastest repetition each; null without a peer figure.</summary>
    public double? BestRatio => Peer is null ? null : ThroughputRatio.OfBest(Ours, Peer);
}
