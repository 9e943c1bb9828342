using System.Diagnostics;

namespace ModelRouter.Cli.Benchmarks.Server;

/// <summary>Round-trip times of one measured operation, in Stopwatch ticks, with the percentiles reported.</summary>
public sealed class LatencySamples(int capacity)
{
    private readonly long[] ticks = new long[capacity];
    private int count;

    public int Count => count;

    public void Add(long elapsedTicks) => ticks[count++] = elapsedTicks;

    /// <summary>Nearest-rank percentile in microseconds (0 &lt; p ≤ 100).</summary>
    public double PercentileMicroseconds(double p)
    {
        if (count == 0)
        {
            return double.NaN;
        }

        var sorted = ticks.AsSpan(0, count).ToArray();
        Array.Sort(sorted);
        var rank = Math.Clamp((int)Math.Ceiling(p / 100 * count) - 1, 0, count - 1);
        return sorted[rank] * 1e6 / Stopwatch.Frequency;
    }
}
