namespace ModelRouter.Cli.Simulation;

/// <summary>What one policy did with a trace: each request's times (ms; NaN when it failed) and the device's time.</summary>
public sealed record PolicyRun(
    string Policy,
    IReadOnlyList<TraceRequest> Trace,
    double[] TtftMs,
    double[] EndToEndMs,
    long Swaps,
    TimeSpan SwapTime,
    TimeSpan BusyTime,
    TimeSpan Span,
    int Failed)
{
    public double SwapsPerMinute => Span > TimeSpan.Zero ? Swaps / Span.TotalMinutes : 0;

    /// <summary>Share of the run's span the device spent swapping.</summary>
    public double SwapTimeShare => Span > TimeSpan.Zero ? Math.Min(1, SwapTime / Span) : 0;

    /// <summary>Share of the span the device neither computed nor swapped.</summary>
    public double IdleShare => Span > TimeSpan.Zero ? Math.Max(0, 1 - (BusyTime + SwapTime) / Span) : 0;

    public static double Percentile(IEnumerable<double> values, double p) => PercentileOfSorted(SortedWithoutFailures(values), p);

    /// <summary>The p-th percentile (nearest rank) of values already sorted ascending; NaN when there are none.</summary>
    public static double PercentileOfSorted(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[rank];
    }

    // The reports ask for a dozen percentiles and the fairness figure of each run; with a million requests sorting on every
    // call took seconds, so each is computed once (the arrays are not changed after the run).
    private double[]? sortedTtft;
    private double[]? sortedEndToEnd;
    private double? worstUserP95;

    /// <summary>TTFTs of the requests that did not fail, ascending.</summary>
    public double[] SortedTtftMs => sortedTtft ??= SortedWithoutFailures(TtftMs);

    public double Ttft(double p) => PercentileOfSorted(SortedTtftMs, p);

    public double EndToEnd(double p) => PercentileOfSorted(sortedEndToEnd ??= SortedWithoutFailures(EndToEndMs), p);

    /// <summary>Fairness: the p95 TTFT of the worst-served user.</summary>
    public double WorstUserP95 => worstUserP95 ??=
        Trace.Select((r, i) => (r.User, i)).GroupBy(x => x.User).Select(g => Percentile(g.Select(x => TtftMs[x.i]), 95))
            .Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Max();

    private static double[] SortedWithoutFailures(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).ToArray();
        Array.Sort(sorted);
        return sorted;
    }
}
