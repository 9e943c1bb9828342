using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelRouter.Cli.Reporting;

namespace ModelRouter.Cli.Simulation;

/// <summary>Writes a comparison: summary.json, a CSV and markdown table, and SVG plots (latency CDF; p95 vs load).</summary>
public static class SimulationReport
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static TextTable Table(IReadOnlyList<PolicyRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var table = new TextTable("policy", "ttft p50 ms", "ttft p95 ms", "ttft p99 ms", "e2e p50 ms", "e2e p95 ms", "e2e p99 ms",
            "swaps/min", "swap time %", "idle %", "worst user p95 ms", "failed");
        foreach (var r in runs)
        {
            table.Add(r.Policy, F(r.Ttft(50)), F(r.Ttft(95)), F(r.Ttft(99)), F(r.EndToEnd(50)), F(r.EndToEnd(95)), F(r.EndToEnd(99)),
                r.SwapsPerMinute.ToString("F2", C), (r.SwapTimeShare * 100).ToString("F1", C), (r.IdleShare * 100).ToString("F1", C),
                F(r.WorstUserP95), r.Failed.ToString(C));
        }

        return table;
    }

    /// <summary>summary.json: one object per policy with the fields the issue names.</summary>
    public static string SummaryJson(IReadOnlyList<PolicyRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var list = runs.Select(r => new Dictionary<string, object?>
        {
            ["policy"] = r.Policy,
            ["ttft_p50_ms"] = Json(r.Ttft(50)),
            ["ttft_p95_ms"] = Json(r.Ttft(95)),
            ["ttft_p99_ms"] = Json(r.Ttft(99)),
            ["e2e_p50_ms"] = Json(r.EndToEnd(50)),
            ["e2e_p95_ms"] = Json(r.EndToEnd(95)),
            ["e2e_p99_ms"] = Json(r.EndToEnd(99)),
            ["swaps_per_min"] = Math.Round(r.SwapsPerMinute, 4),
            ["swap_time_share"] = Math.Round(r.SwapTimeShare, 6),
            ["gpu_idle_share"] = Math.Round(r.IdleShare, 6),
            ["worst_user_ttft_p95_ms"] = Json(r.WorstUserP95),
            ["requests"] = r.Trace.Count,
            ["failed"] = r.Failed,
        }).ToList();
        return JsonSerializer.Serialize(list, Indented);
    }

    /// <summary>Empirical CDF of TTFT per policy, log-scaled time axis.</summary>
    public static string TtftCdfSvg(IReadOnlyList<PolicyRun> runs, string title)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var series = runs.Select(r =>
        {
            var sorted = r.SortedTtftMs;
            var points = sorted.Select((v, i) => (Math.Log10(Math.Max(v, 0.1)), (i + 1.0) / sorted.Length));
            return (r.Policy, (IReadOnlyList<(double, double)>)Thin(points.ToList()));
        }).ToList();
        return Lines(title, "TTFT (ms, log scale)", "share of requests", series, logX: true);
    }

    /// <summary>p95 TTFT against offered load (requests/s), one line per policy, log-scaled latency.</summary>
    public static string P95VersusLoadSvg(IReadOnlyList<(double Rate, IReadOnlyList<PolicyRun> Runs)> sweep, string title)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        var policies = sweep.SelectMany(s => s.Runs.Select(r => r.Policy)).Distinct().ToList();
        var series = policies.Select(p => (p, (IReadOnlyList<(double, double)>)sweep
            .Select(s => (s.Rate, Math.Log10(Math.Max(0.1, s.Runs.First(r => r.Policy == p).Ttft(95))))).ToList())).ToList();
        return Lines(title, "offered load (requests/s)", "p95 TTFT (ms, log scale)", series, logY: true);
    }

    private static List<(double, double)> Thin(List<(double, double)> points) =>
        points.Count <= 400 ? points : points.Where((_, i) => i % (points.Count / 400 + 1) == 0 || i == points.Count - 1).ToList();

    private static string Lines(string title, string xLabel, string yLabel, IReadOnlyList<(string Name, IReadOnlyList<(double X, double Y)> Points)> series,
        bool logX = false, bool logY = false)
    {
        string[] colors = ["#d62728", "#ff7f0e", "#9467bd", "#1f77b4", "#2ca02c", "#8c564b"];
        const double W = 760, H = 440, L = 70, R = 180, T = 40, B = 50;
        var all = series.SelectMany(s => s.Points).ToList();
        double x0 = all.Count > 0 ? all.Min(p => p.X) : 0, x1 = all.Count > 0 ? all.Max(p => p.X) : 1;
        double y0 = all.Count > 0 ? Math.Min(0, all.Min(p => p.Y)) : 0, y1 = all.Count > 0 ? all.Max(p => p.Y) : 1;
        if (x1 <= x0)
        {
            x1 = x0 + 1;
        }

        if (y1 <= y0)
        {
            y1 = y0 + 1;
        }

        double X(double x) => L + (x - x0) / (x1 - x0) * (W - L - R);
        double Y(double y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
        string Tick(double v, bool log) => log ? Math.Pow(10, v).ToString(v < 1 ? "G2" : "F0", C) : v.ToString("G3", C);
        var svg = new StringBuilder();
        svg.Append(C, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(C, $"<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n<text x=\"{W / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        svg.Append(C, $"<line x1=\"{L}\" y1=\"{H - B}\" x2=\"{W - R}\" y2=\"{H - B}\" stroke=\"black\"/><line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{H - B}\" stroke=\"black\"/>\n");
        for (var i = 0; i <= 5; i++)
        {
            var xv = x0 + (x1 - x0) * i / 5;
            var yv = y0 + (y1 - y0) * i / 5;
            svg.Append(C, $"<text x=\"{X(xv):F1}\" y=\"{H - B + 16}\" text-anchor=\"middle\">{Tick(xv, logX)}</text>");
            svg.Append(C, $"<text x=\"{L - 6}\" y=\"{Y(yv) + 4:F1}\" text-anchor=\"end\">{Tick(yv, logY)}</text>\n");
        }

        svg.Append(C, $"<text x=\"{(L + W - R) / 2}\" y=\"{H - 12}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        svg.Append(C, $"<text transform=\"translate(16,{(T + H - B) / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");
        for (var s = 0; s < series.Count; s++)
        {
            var color = colors[s % colors.Length];
            var path = string.Join(' ', series[s].Points.Select(p => string.Create(C, $"{X(p.X):F1},{Y(p.Y):F1}")));
            svg.Append(C, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{path}\"/>\n");
            svg.Append(C, $"<rect x=\"{W - R + 15}\" y=\"{T + s * 20}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{W - R + 32}\" y=\"{T + s * 20 + 11}\">{Escape(series[s].Name)}</text>\n");
        }

        return svg.Append("</svg>\n").ToString();
    }

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal);

    private static string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F1", C);

    private static double? Json(double v) => double.IsNaN(v) ? null : Math.Round(v, 3);
}
