using System.Text.Json;

namespace ModelRouter.Cli.Benchmarks.Swap;

/// <summary>
/// summary.json: one object per model with the medians (ms, GB/s, tokens/s) and the machine. The router-mode switch
/// is null with <c>router_switch_skipped</c> saying why when it was not measured. Overheads are what a switch costs
/// beyond the resident model's first token (X_to_token − resident_to_token); the ratios are the baselines' overheads
/// over ours (the target is ≥ 10).
/// </summary>
public static class SwapBenchSummary
{
    public static string Write(IReadOnlyList<SwapBenchRow> rows, SwapBenchSettings settings, string machine)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(settings);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartArray();
            foreach (var r in rows)
            {
                json.WriteStartObject();
                json.WriteString("model", r.Model);
                json.WriteNumber("bytes", r.WeightBytes);
                json.WriteNumber("reload_to_token_ms", Math.Round(r.LoadMmapToFirstTokenMs, 3));
                json.WriteNumber("reload_no_mmap_to_token_ms", Math.Round(r.LoadNoMmapToFirstTokenMs, 3));
                NumberOrNull(json, "router_switch_to_token_ms", r.RouterSwitchToFirstTokenMs);
                if (r.RouterSkipped is { } skipped)
                {
                    json.WriteString("router_switch_skipped", skipped);
                }
                else
                {
                    NumberOrNull(json, "router_resident_to_token_ms", r.RouterResidentToFirstTokenMs);
                    json.WriteString("router_switch_from", r.RouterOther);
                }

                json.WriteNumber("restore_to_token_ms", Math.Round(r.RestoreToFirstTokenMs, 3));
                json.WriteNumber("resident_to_token_ms", Math.Round(r.ResidentToFirstTokenMs, 3));
                json.WriteNumber("restore_ms", Math.Round(r.RestoreOnlyMs, 3));
                json.WriteNumber("evict_ms", Math.Round(r.EvictMs, 3));
                json.WriteNumber("evict_rss_drop_bytes", r.EvictRssDropBytes);
                json.WriteNumber("restore_rss_gain_bytes", r.RestoreRssGainBytes);
                json.WriteNumber("restore_gbps", Math.Round(r.RestoreGigabytesPerSecond, 3));
                json.WriteNumber("memcpy_gbps", Math.Round(r.ReferenceGigabytesPerSecond, 3));
                json.WriteNumber("restore_overhead_ms", Math.Round(r.RestoreOverheadMs, 3));
                json.WriteNumber("reload_overhead_ms", Math.Round(r.ReloadOverheadMs, 3));
                NumberOrNull(json, "router_overhead_ms", r.RouterOverheadMs);
                NumberOrNull(json, "reload_over_ours", r.RestoreOverheadMs > 0 ? r.ReloadOverheadMs / r.RestoreOverheadMs : null);
                NumberOrNull(json, "router_over_ours", r.RestoreOverheadMs > 0 ? r.RouterOverheadMs / r.RestoreOverheadMs : null);
                json.WriteNumber("decode_tps_before", Math.Round(r.DecodeTokensPerSecondBefore, 3));
                json.WriteNumber("decode_tps_after_restore", Math.Round(r.DecodeTokensPerSecondAfterRestore, 3));
                json.WriteNumber("decode_after_over_before", Math.Round(r.DecodeRatio, 4));
                json.WriteBoolean("tokens_equal", r.TokensEqual);
                json.WriteString("cpu_restore", settings.CpuMapImage ? "map" : "copy");
                json.WriteBoolean("cpu_page_pool", settings.CpuPagePool);
                json.WriteNumber("evicted_ms", settings.EvictedMilliseconds);
                json.WriteNumber("cycles", settings.Cycles);
                json.WriteString("machine", machine);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static void NumberOrNull(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            json.WriteNumber(name, Math.Round(v, 3));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
