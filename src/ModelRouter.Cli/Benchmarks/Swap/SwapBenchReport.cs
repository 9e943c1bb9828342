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
            "evict RSS −MB", "restore RSS +MB", "tokens equal");
        var c = CultureInfo.InvariantCulture;
        foreach (var r in rows)
        {
            table.Add(r.Model, r.Shape, (r.WeightBytes / 1e6).ToString("F1", c), r.ReferenceGigabytesPerSecond.ToString("F2", c),
                r.LoadMmapToFirstTokenMs.ToString("F1", c), r.LoadNoMmapToFirstTokenMs.ToString("F1", c),
                r.RestoreToFirstTokenMs.ToString("F1", c), r.ResidentToFirstTokenMs.ToString("F1", c), r.RestoreOnlyMs.ToString("F1", c), r.RestoreGigabytesPerSecond.ToString("F2", c),
                (r.ShareOfReference * 100).ToString("F0", c) + "%", r.SpeedupOverLlamaCpp.ToString("F2", c) + "x",
                r.EvictMs.ToString("F2", c), (r.EvictRssDropBytes / 1e6).ToString("F1", c), (r.RestoreRssGainBytes / 1e6).ToString("F1", c),
                r.TokensEqual ? "yes" : "NO");
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
            : "reference: host memcpy from the page cache (CPU path: the model lives in a CPU swap region; restore " + (settings.CpuMapImage ? "maps" : "copies") + " its host image)");
        lines.Add(string.Create(c, $"cycles: {settings.Cycles} (medians), threads: {settings.Threads}, prompt: \"{SwapBenchSettings.Prompt}\""));
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>
    /// summary.json: one object per model with the medians (ms, GB/s) and the machine. The router-mode switch is not
    /// measured by this command yet, so it is null with the reason beside it.
    /// </summary>
    public static string Summary(IReadOnlyList<SwapBenchRow> rows, SwapBenchSettings settings, string machine)
    {
        using var buffer = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Indented = true }))
        {
            json.WriteStartArray();
            foreach (var r in rows)
            {
                json.WriteStartObject();
                json.WriteString("model", r.Model);
                json.WriteNumber("bytes", r.WeightBytes);
                json.WriteNumber("reload_to_token_ms", Math.Round(r.LoadMmapToFirstTokenMs, 3));
                json.WriteNumber("reload_no_mmap_to_token_ms", Math.Round(r.LoadNoMmapToFirstTokenMs, 3));
                json.WriteNull("router_switch_to_token_ms");
                json.WriteString("router_switch_skipped", "bench-swap does not measure the router mode of llama-server yet");
                json.WriteNumber("restore_to_token_ms", Math.Round(r.RestoreToFirstTokenMs, 3));
                json.WriteNumber("resident_to_token_ms", Math.Round(r.ResidentToFirstTokenMs, 3));
                json.WriteNumber("restore_ms", Math.Round(r.RestoreOnlyMs, 3));
                json.WriteNumber("evict_ms", Math.Round(r.EvictMs, 3));
                json.WriteNumber("evict_rss_drop_bytes", r.EvictRssDropBytes);
                json.WriteNumber("restore_rss_gain_bytes", r.RestoreRssGainBytes);
                json.WriteNumber("restore_gbps", Math.Round(r.RestoreGigabytesPerSecond, 3));
                json.WriteNumber("memcpy_gbps", Math.Round(r.ReferenceGigabytesPerSecond, 3));
                json.WriteBoolean("tokens_equal", r.TokensEqual);
                json.WriteString("cpu_restore", settings.CpuMapImage ? "map" : "copy");
                json.WriteNumber("cycles", settings.Cycles);
                json.WriteString("machine", machine);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    public static string Chart(IReadOnlyList<SwapBenchRow> rows, string footnote) =>
        SvgBarChart.Render(
            "Model ready to decode (ms): llama.cpp reload vs our restore",
            "ms",
            ["llama.cpp load, mmap", "llama.cpp load, no mmap", "ours: restore"],
            rows.Select(r => (r.Model, new[] { r.LoadMmapToFirstTokenMs, r.LoadNoMmapToFirstTokenMs, r.RestoreToFirstTokenMs })).ToList(),
            footnote);
}
