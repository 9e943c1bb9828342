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
            "ours restore→token ms", "restore ms", "restore GB/s", "% of reference", "speed-up", "evict ms", "tokens equal");
        var c = CultureInfo.InvariantCulture;
        foreach (var r in rows)
        {
            table.Add(r.Model, r.Shape, (r.WeightBytes / 1e6).ToString("F1", c), r.ReferenceGigabytesPerSecond.ToString("F2", c),
                r.LoadMmapToFirstTokenMs.ToString("F1", c), r.LoadNoMmapToFirstTokenMs.ToString("F1", c),
                r.RestoreToFirstTokenMs.ToString("F1", c), r.RestoreOnlyMs.ToString("F1", c), r.RestoreGigabytesPerSecond.ToString("F2", c),
                (r.ShareOfReference * 100).ToString("F0", c) + "%", r.SpeedupOverLlamaCpp.ToString("F2", c) + "x",
                r.EvictMs.ToString("F2", c), r.TokensEqual ? "yes" : "NO");
        }

        return table;
    }

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
            $"native: llama.cpp {build.LlamaCommit[..Math.Min(7, build.LlamaCommit.Length)]}, ggml {build.GgmlVersion}, backends {string.Join("+", build.CompiledBackends)}",
        };
        lines.AddRange(devices.Select(d => string.Create(c, $"device {d.Index}: {d.Name} ({d.Kind}), {d.Description}, {d.MemoryTotalBytes / (double)(1L << 30):F1} GiB")));
        lines.Add(build.CompiledBackends.Contains("cuda")
            ? "reference: pinned host-to-device cudaMemcpyAsync"
            : "reference: host memcpy from the page cache (CPU path: the warm tier is the page cache, resident is a loaded llama_model)");
        lines.Add(string.Create(c, $"cycles: {settings.Cycles} (medians), threads: {settings.Threads}, prompt: \"{SwapBenchSettings.Prompt}\""));
        return string.Join('\n', lines) + "\n";
    }

    public static string Chart(IReadOnlyList<SwapBenchRow> rows, string footnote) =>
        SvgBarChart.Render(
            "Model ready to decode (ms): llama.cpp reload vs our restore",
            "ms",
            ["llama.cpp load, mmap", "llama.cpp load, no mmap", "ours: restore"],
            rows.Select(r => (r.Model, new[] { r.LoadMmapToFirstTokenMs, r.LoadNoMmapToFirstTokenMs, r.RestoreToFirstTokenMs })).ToList(),
            footnote);
}
