using ModelRouter.Cli.Benchmarks;

namespace ModelRouter.Cli.Tests.Benchmarks;

public sealed class ThroughputTests
{
    [Fact]
    public void SummarisesLikeLlamaBenchMeanOfRatesAndSampleDeviation()
    {
        var t = Throughput.FromRates([10.0, 12.0, 14.0]);
        Assert.Equal(12.0, t.Mean, 12);
        Assert.Equal(2.0, t.StandardDeviation, 12); // sqrt(((-2)^2 + 0 + 2^2) / (3 - 1))
    }

    [Fact]
    public void OneSampleHasNoDeviation() => Assert.Equal(0, Throughput.FromRates([7.0]).StandardDeviation);

    [Fact]
    public void RatesFromDurationsAreTokensPerSecondOfEachRepetition()
    {
        var t = Throughput.FromDurations(128, [TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)]);
        Assert.Equal([64.0, 32.0], t.Samples);
        Assert.Equal(48.0, t.Mean, 12);
    }

    [Fact]
    public void RejectsNoSamplesAndNonPositiveDurations()
    {
        Assert.Throws<ArgumentException>(() => Throughput.FromRates([]));
        Assert.Throws<ArgumentException>(() => Throughput.FromDurations(10, [TimeSpan.Zero]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Throughput.FromDurations(0, [TimeSpan.FromSeconds(1)]));
    }

    [Fact]
    public void PoolingRoundsSummarisesAllTheirSamples()
    {
        var pooled = Throughput.Pool([Throughput.FromRates([10.0, 12.0]), Throughput.FromRates([14.0])]);
        Assert.Equal([10.0, 12.0, 14.0], pooled.Samples);
        Assert.Equal(12.0, pooled.Mean, 12);
        Assert.Equal(2.0, pooled.StandardDeviation, 12);
    }

    [Fact]
    public void RatioIsOursOverPeerWithPropagatedDeviation()
    {
        var ours = new Throughput(49.0, 0.49, [49.0]);
        var peer = new Throughput(50.0, 0.5, [50.0]);

        var ratio = ThroughputRatio.Of(ours, peer);

        Assert.Equal(0.98, ratio.Value, 12);
        Assert.Equal(0.98 * Math.Sqrt(0.01 * 0.01 * 2), ratio.StandardDeviation, 12); // both sides 1% relative
        Assert.True(ratio.Meets(0.98));
        Assert.False(ThroughputRatio.Of(new Throughput(48.9, 0, [48.9]), peer).Meets(0.98));
    }

    [Fact]
    public void BestRatioComparesTheFastestRepetitionOfEachSide()
    {
        var ours = Throughput.FromRates([40.0, 49.0, 45.0]);
        var peer = Throughput.FromRates([30.0, 50.0]);
        Assert.Equal(49.0, ours.Best);
        Assert.Equal(0.98, ThroughputRatio.OfBest(ours, peer), 12);
    }

    [Fact]
    public void RatioAgainstAZeroPeerIsNotANumber()
    {
        var ratio = ThroughputRatio.Of(new Throughput(1, 0, [1.0]), new Throughput(0, 0, [0.0]));
        Assert.True(double.IsNaN(ratio.Value));
    }

    [Fact]
    public void RowRatioIsAbsentWithoutAPeerFigure()
    {
        var row = new BenchDecodeRow("m.gguf", "CPU", 2, "tg128", null, new Throughput(5, 0, [5.0]));
        Assert.Null(row.Ratio);
    }

    [Fact]
    public void ReportsCarryEveryRowWithItsRatio()
    {
        BenchDecodeRow[] rows =
        [
            new("stories260K.gguf", "CPU", 2, "pp512", new Throughput(1000, 10, [990.0, 1010.0]), new Throughput(990, 20, [970.0, 1010.0])),
            new("stories260K.gguf", "CPU", 2, "tg128", new Throughput(500, 5, [500.0]), new Throughput(495, 5, [495.0])),
        ];

        var csv = BenchDecodeReport.Csv(rows).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, csv.Length);
        Assert.StartsWith("model,backend,threads,test,llama_bench_ts,", csv[0], StringComparison.Ordinal);
        Assert.StartsWith("stories260K.gguf,CPU,2,tg128,500,5,500,495,5,495,0.99,", csv[2], StringComparison.Ordinal);
        Assert.EndsWith(",0.99", csv[2], StringComparison.Ordinal);

        var markdown = BenchDecodeReport.Markdown(rows);
        Assert.Contains("| stories260K.gguf | CPU | 2 | pp512 | 1000.00 ± 10.00 | 990.00 ± 20.00 | 0.990 ± 0.022 | 1.000 |", markdown, StringComparison.Ordinal);

        var text = BenchDecodeReport.Text(rows);
        Assert.Contains("0.990 ± 0.014", text, StringComparison.Ordinal);
    }
}
