using System.Globalization;
using System.Text;

namespace ModelRouter.Cli.Benchmarks;

/// <summary>Renders bench-decode rows as an aligned text table, CSV and a markdown table.</summary>
public static class BenchDecodeReport
{
    private static readonly string[] Headers = ["model", "backend", "threads", "test", "llama-bench t/s", "ours t/s", "ratio", "best/best"];

    public static string Text(IReadOnlyList<BenchDecodeRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var cells = rows.Select(Cells).ToList();
        var widths = Headers.Select((h, i) => Math.Max(h.Length, cells.Count == 0 ? 0 : cells.Max(c => c[i].Length))).ToArray();
        var text = new StringBuilder();
        AppendLine(text, Headers, widths);
        text.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in cells)
        {
            AppendLine(text, row, widths);
        }

        return text.ToString();
    }

    public static string Markdown(IReadOnlyList<BenchDecodeRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var text = new StringBuilder();
        text.Append("| ").AppendJoin(" | ", Headers).AppendLine(" |");
        text.Append('|').AppendJoin('|', Headers.Select((_, i) => i is 0 or 1 or 3 ? "---" : "---:")).AppendLine("|");
        foreach (var cells in rows.Select(Cells))
        {
            text.Append("| ").AppendJoin(" | ", cells.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))).AppendLine(" |");
        }

        return text.ToString();
    }

    public static string Csv(IReadOnlyList<BenchDecodeRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var text = new StringBuilder();
        text.AppendLine("model,backend,threads,test,llama_bench_ts,llama_bench_sd,llama_bench_best,ours_ts,ours_sd,ours_best,ratio,ratio_sd,best_ratio");
        foreach (var row in rows)
        {
            var ratio = row.Ratio;
            text.AppendJoin(',',
                Quote(row.Model), Quote(row.Backend), F(row.Threads), Quote(row.Test),
                row.Peer is null ? "" : F(row.Peer.Mean), row.Peer is null ? "" : F(row.Peer.StandardDeviation), row.Peer is null ? "" : F(row.Peer.Best),
                F(row.Ours.Mean), F(row.Ours.StandardDeviation), F(row.Ours.Best),
                ratio is { } r ? F(r.Value) : "", ratio is { } s && double.IsFinite(s.StandardDeviation) ? F(s.StandardDeviation) : "",
                row.BestRatio is { } b && double.IsFinite(b) ? F(b) : "");
            text.AppendLine();
        }

        return text.ToString();
    }

    /// <summary>A rate as llama-bench prints it: mean ± standard deviation, two decimals.</summary>
    public static string FormatRate(Throughput t)
    {
        ArgumentNullException.ThrowIfNull(t);
        return string.Format(CultureInfo.InvariantCulture, "{0:F2} ± {1:F2}", t.Mean, t.StandardDeviation);
    }

    public static string FormatRatio(ThroughputRatio? ratio) => ratio is not { } r || !double.IsFinite(r.Value)
        ? "-"
        : double.IsFinite(r.StandardDeviation)
            ? string.Format(CultureInfo.InvariantCulture, "{0:F3} ± {1:F3}", r.Value, r.StandardDeviation)
            : string.Format(CultureInfo.InvariantCulture, "{0:F3}", r.Value);

    private static string[] Cells(BenchDecodeRow row) =>
    [
        row.Model, row.Backend, F(row.Threads), row.Test,
        row.Peer is null ? "-" : FormatRate(row.Peer), FormatRate(row.Ours), FormatRatio(row.Ratio),
        row.BestRatio is { } best && double.IsFinite(best) ? best.ToString("F3", CultureInfo.InvariantCulture) : "-",
    ];

    private static void AppendLine(StringBuilder text, string[] cells, int[] widths)
    {
        for (var i = 0; i < cells.Length; i++)
        {
            if (i > 0)
            {
                text.Append("  ");
            }

            // Text columns left-aligned, numbers right-aligned.
            text.Append(i is 0 or 1 or 3 ? cells[i].PadRight(widths[i]) : cells[i].PadLeft(widths[i]));
        }

        text.AppendLine();
    }

    private static string F(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);

    private static string F(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Quote(string value) =>
        value.AsSpan().IndexOfAny(",\"\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
}
