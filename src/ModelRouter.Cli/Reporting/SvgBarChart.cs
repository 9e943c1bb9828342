using System.Globalization;
using System.Net;
using System.Text;

namespace ModelRouter.Cli.Reporting;

/// <summary>
/// A grouped horizontal bar chart written as plain SVG (no plotting library is available here): one group per
/// category (a model), one bar per series (a method), each bar labelled with its value.
/// </summary>
public static class SvgBarChart
{
    private static readonly string[] Palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"];

    public static string Render(string title, string unit, IReadOnlyList<string> series, IReadOnlyList<(string Category, double[] Values)> groups, string? footnote = null)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(groups);
        const int left = 230, right = 130, barHeight = 18, barGap = 4, groupGap = 22, top = 70;
        var width = 900;
        var plotWidth = width - left - right;
        var max = groups.SelectMany(g => g.Values).Where(double.IsFinite).DefaultIfEmpty(1).Max();
        max = max <= 0 ? 1 : max;
        var height = top + groups.Count * (series.Count * (barHeight + barGap) + groupGap) + 40 + (footnote is null ? 0 : 20);

        var svg = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        svg.Append(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(c, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(c, $"<text x=\"{width / 2}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{Escape(title)}</text>\n");
        for (var s = 0; s < series.Count; s++)
        {
            var x = left + s * 190;
            svg.Append(c, $"<rect x=\"{x}\" y=\"38\" width=\"12\" height=\"12\" fill=\"{Palette[s % Palette.Length]}\"/>");
            svg.Append(c, $"<text x=\"{x + 16}\" y=\"49\">{Escape(series[s])}</text>\n");
        }

        var y = top;
        foreach (var (category, values) in groups)
        {
            var groupHeight = series.Count * (barHeight + barGap);
            svg.Append(c, $"<text x=\"{left - 8}\" y=\"{y + groupHeight / 2 + 4}\" text-anchor=\"end\" font-weight=\"bold\">{Escape(category)}</text>\n");
            for (var s = 0; s < series.Count && s < values.Length; s++)
            {
                var value = values[s];
                var w = double.IsFinite(value) ? Math.Max(1, value / max * plotWidth) : 0;
                svg.Append(c, $"<rect x=\"{left}\" y=\"{y}\" width=\"{w:F1}\" height=\"{barHeight}\" fill=\"{Palette[s % Palette.Length]}\"/>");
                var label = double.IsFinite(value) ? value.ToString(value >= 100 ? "F0" : "F1", c) + " " + unit : "n/a";
                svg.Append(c, $"<text x=\"{left + w + 6:F1}\" y=\"{y + barHeight - 5}\">{Escape(label)}</text>\n");
                y += barHeight + barGap;
            }

            y += groupGap;
        }

        svg.Append(c, $"<line x1=\"{left}\" y1=\"{top - 6}\" x2=\"{left}\" y2=\"{y - groupGap + 4}\" stroke=\"#333\"/>\n");
        if (footnote is not null)
        {
            svg.Append(c, $"<text x=\"10\" y=\"{height - 12}\" font-size=\"10\" fill=\"#555\">{Escape(footnote)}</text>\n");
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
