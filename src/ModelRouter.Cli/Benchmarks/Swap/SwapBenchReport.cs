using System.Globalization;
using System.Runtime.InteropServices;
using ModelRouter.Cli.Reporting;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Cli.Benchmarks.Swap;

/// <summary>Renders bench-swap results: a table (text, markdown, CSV), an SVG chart and a header saying where and how.</summary>
internal static class SwapBenchReport
{
    public static TextTable Table(IReadOnlyList<SwapBenchRow> rows)
    {
        var table = new TextTable(
            "model", "shape", "weights MB", "reference GB/s", "llama.cpp mmap→token ms", "llama.cpp no-mmap→token ms",
            "ours restore→token ms", "resident→token ms", "restore ms", "restore GB/s", "% of reference", "speed-up", "evict ms",
            "evict RSS −MB", "restore RSS +MB", "router switch→token ms", "router resident→token ms",
            "ours overhead ms", "reload overhead ms", "router overhead ms", "reload/ours", "router/ours",
            "decode tok/s before", "decode tok/s after restore", "after/before", "tokens equal");
        var c = CultureInfo.InvariantCulture;
        foreach (var r in rows)
        {
            table.Add(r.Model, r.Shape, (r.WeightBytes / 1e6).ToString("F1", c), r.ReferenceGigabytesPerSecond.ToString("F2", c),
                r.LoadMmapToFirstTokenMs.ToString("F1", c), r.LoadNoMmapToFirstTokenMs.ToString("F1", c),
                r.RestoreToFirstTokenMs.ToString("F1", c), r.ResidentToFirstTokenMs.ToString("F1", c), r.RestoreOnlyMs.ToString("F1", c), r.RestoreGigabytesPerSecond.ToString("F2", c),
                (r.ShareOfReference * 100).ToString("F0", c) + "%", r.SpeedupOverLlamaCpp.ToString("F2", c) + "x",
                r.EvictMs.ToString("F2", c), (r.EvictRssDropBytes / 1e6).ToString("F1", c), (r.RestoreRssGainBytes / 1e6).ToString("F1", c),
                Ms(r.RouterSwitchToFirstTokenMs, r.RouterSkipped), Ms(r.RouterResidentToFirstTokenMs, r.RouterSkipped),
                r.RestoreOverheadMs.ToString("F1", c), r.ReloadOverheadMs.ToString("F1", c), Ms(r.RouterOverheadMs, r.RouterSkipped),
                Ratio(r.ReloadOverheadMs, r.RestoreOverheadMs), r.RouterOverheadMs is { } router ? Ratio(router, r.RestoreOverheadMs) : "-",
                r.DecodeTokensPerSecondBefore.ToString("F1", c), r.DecodeTokensPerSecondAfterRestore.ToString("F1", c), r.DecodeRatio.ToString("F3", c),
                r.TokensEqual ? "yes" : "NO");
        }

        return table;
    }

    private static string Ms(double? value, string? skipped) =>
        value is { } v ? v.ToString("F1", CultureInfo.InvariantCulture) : skipped is null ? "-" : "skipped";

    /// <summary>How many times a baseline's overhead is ours ("≥10x" is the target); ours at or under zero: "∞".</summary>
    private static string Ratio(double baseline, double ours) =>
        ours <= 0 ? "∞" : (baseline / ours).ToString("F1", CultureInfo.InvariantCulture) + "x";

    public static string Header(SwapBenchSettings settings)
    {
        var build = NativeRuntime.EnsureInitialized();
        var devices = NativeRuntime.GetDevices();
        var c = CultureInfo.InvariantCulture;
        var lines = new List<string>
        {
            string.Create(c, $"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"),
            $"command: {settings.CommandLine}",
            $"machine: {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}",
            "load average (1, 5, 15 min) at start: " + (File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown"),
            $"native: llama.cpp {build.LlamaCommit[..Math.Min(7, build.LlamaCommit.Length)]}, ggml {build.GgmlVersion}, backends {string.Join("+", build.CompiledBackends)}",
        };
        lines.AddRange(devices.Select(d => string.Create(c, $"device {d.Index}: {d.Name} ({d.Kind}), {d.Description}, {d.MemoryTotalBytes / (double)(1L << 30):F1} GiB")));
        lines.Add(build.CompiledBackends.Contains("cuda")
            ? "reference: pinned host-to-device cudaMemcpyAsync"
            : "reference: host memcpy from the page cache (CPU path: the model lives in a CPU swap region; restore " + (settings.CpuMapImage ? "maps" : "copies") + " its host image"
                + (settings.CpuMapImage ? "" : settings.CpuPagePool ? " into pages kept from its evict" : " into fresh pages")
                + (settings.EvictedMilliseconds > 0 ? $"; evicted {settings.EvictedMilliseconds} ms before each restore" : "") + ")");
        lines.Add(string.Create(c, $"cycles: {settings.Cycles} (medians), threads: {settings.Threads}, prompt: \"{SwapBenchSettings.Prompt}\""));
        return string.Join('\n', lines) + "\n";
    }

    public static string Chart(IReadOnlyList<SwapBenchRow> rows, string footnote) =>
        SvgBarChart.Render(
            "To the first token (ms): llama.cpp reload and router-mode switch vs our restore",
            "ms",
            ["llama.cpp reload (mmap)", "router-mode switch", "ours: restore", "resident"],
            rows.Select(r => (r.Model, new[] { r.LoadMmapToFirstTokenMs, r.RouterSwitchToFirstTokenMs ?? double.NaN, r.RestoreToFirstTokenMs, r.ResidentToFirstTokenMs })).ToList(),
            footnote);
}
