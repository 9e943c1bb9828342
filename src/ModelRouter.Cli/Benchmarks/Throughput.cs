namespace ModelRouter.Cli.Benchmarks;

/// <summary>
/// Tokens per second over repetitions, summarised as llama-bench summarises them: the mean of the per-repetition
/// rates and their sample standard deviation (n - 1), so that our figures and llama-bench's mean the same thing.
/// </summary>
public sealed record Throughput(double Mean, double StandardDeviation, IReadOnlyList<double> Samples)
{
    /// <summary>The fastest repetition: on a machine shared with other work, the one least disturbed by it.</summary>
    public double Best => Samples.Count == 0 ? Mean : Samples.Max();

    /// <summary>Summarises per-repetition rates (tokens/s).</summary>
    public static Throughput FromRates(IReadOnlyList<double> rates)
    {
        ArgumentNullException.ThrowIfNull(rates);
        if (rates.Count == 0)
        {
            throw new ArgumentException("At least one sample is needed.", nameof(rates));
        }

        var mean = rates.Average();
        var sd = 0.0;
        if (rates.Count > 1)
        {
            var squares = rates.Sum(r => (r - mean) * (r - mean));
            sd = Math.Sqrt(squares / (rates.Count - 1));
        }

        return new Throughput(mean, sd, rates);
    }

    /// <summary>Rates of repetitions that each processed <paramref name="tokens"/> tokens in the given times.</summary>
    public static Throughput FromDurations(int tokens, IReadOnlyList<TimeSpan> durations)
    {
        ArgumentNullException.ThrowIfNull(durations);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        return FromRates(durations.Select(d => d > TimeSpan.Zero ? tokens / d.TotalSeconds : throw new ArgumentException("A duration is not positive.", nameof(durations))).ToArray());
    }

    /// <summary>Pools the samples of several rounds into one summary.</summary>
    public static Throughput Pool(IEnumerable<Throughput> rounds)
    {
        ArgumentNullException.ThrowIfNull(rounds);
        return FromRates(rounds.SelectMany(r => r.Samples).ToArray());
    }
}

/// <summary>Ours divided by the peer's mean rate, with the standard deviation propagated from both (first order).</summary>
public readonly record struct ThroughputRatio(double Value, double StandardDeviation)
{
    public static ThroughputRatio Of(Throughput ours, Throughput peer)
    {
        ArgumentNullException.ThrowIfNull(ours);
        ArgumentNullException.ThrowIfNull(peer);
        if (peer.Mean <= 0 || ours.Mean <= 0)
        {
            return new ThroughputRatio(peer.Mean <= 0 ? double.NaN : 0, double.NaN);
        }

        var value = ours.Mean / peer.Mean;
        var relative = Math.Sqrt(Square(ours.StandardDeviation / ours.Mean) + Square(peer.StandardDeviation / peer.Mean));
        return new ThroughputRatio(value, value * relative);
    }

    /// <summary>Ours over the peer's fastest repetitions: a load-robust second view (interference only slows runs down).</summary>
    public static double OfBest(Throughput ours, Throughput peer)
    {
        ArgumentNullException.ThrowIfNull(ours);
        ArgumentNullException.ThrowIfNull(peer);
        return peer.Best > 0 ? ours.Best / peer.Best : double.NaN;
    }

    /// <summary>Whether the ratio reaches <paramref name="target"/> (e.g. 0.98).</summary>
    public bool Meets(double target) => Value >= target;

    private static double Square(double x) => x * x;
}
