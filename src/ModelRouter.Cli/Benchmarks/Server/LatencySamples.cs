using System.Diagnostics;

namespace ModelRouter.Cli.Benchmarks.Server;

/// <summary>Round-trip times of one measured operation, in Stopwatch ticks, with the percentiles reported.</summary>
public sealed class LatencySamples(int capacity)
{
    private readonly long[] ticks = new long[capacity];
    private int count;
    private bool sorted;

    public int Count => count;

    public void Add(long elapsedTicks)
    {
        ticks[count++] = elapsedTicks;
        sorted = false;
    }

    /// <summary>Nearest-rank percentile in microseconds (0 &lt; p ≤ 100). Sorts the samples once, in place.</summary>
    public double PercentileMicroseconds(double p)
    {
        if (count == 0)
        {
            return double.NaN;
        }

        if (!sorted)
        {
            Array.Sort(ticks, 0, count);
            sorted = true;
        }

        var rank = Math.Clamp((int)Math.Ceiling(p / 100 * count) - 1, 0, count - 1);
        return ticks[rank] * 1e6 / Stopwatch.Frequency;
    }
}
