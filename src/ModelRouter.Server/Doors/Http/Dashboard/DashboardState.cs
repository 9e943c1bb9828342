using System.Globalization;
using System.Text.Json;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Http.Dashboard;

/// <summary>
/// What a dashboard has already been sent: the newest swap and queue sample, and the decisions' version. The first
/// answer (all zero) carries everything kept; each later one only what is new, and the decisions only when they moved.
/// </summary>
internal struct DashboardCursor
{
    public long Swap;
    public long Sample;
    public long Routes;

    /// <summary>From the query string of a polling client (<c>?swap=&amp;sample=&amp;routes=</c>); missing or bad: 0.</summary>
    public static DashboardCursor Parse(Microsoft.AspNetCore.Http.IQueryCollection query) => new()
    {
        Swap = Number(query["swap"]),
        Sample = Number(query["sample"]),
        Routes = Number(query["routes"]),
    };

    private static long Number(string? text) => long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
}

/// <summary>
/// Writes the dashboard's state: the models as the admin list shows them, the device budget, and what is new in the
/// swap, decision and queue rings since <see cref="DashboardCursor"/>. Prompt excerpts go to admins only.
/// </summary>
internal sealed class DashboardState(RequestPipeline pipeline, bool admin)
{
    private readonly List<SwapRecord> swaps = [];
    private readonly List<RouteRecord> routes = [];
    private readonly List<QueueSample> samples = [];

    public void Write(Utf8JsonWriter json, ref DashboardCursor cursor)
    {
        var events = pipeline.Events;
        swaps.Clear();
        routes.Clear();
        samples.Clear();
        var routeVersion = events.RouteVersion;
        events.CopySwaps(cursor.Swap, swaps);
        events.CopySamples(cursor.Sample, samples);
        if (routeVersion != cursor.Routes)
        {
            events.CopyRoutes(routes);
        }

        var stats = pipeline.Stats();
        json.WriteStartObject();
        json.WriteBoolean("admin", admin);
        json.WriteNumber("server_time", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        json.WriteNumber("uptime_s", Math.Round(stats.Uptime.TotalSeconds, 1));
        json.WriteNumber("device_bytes_used", stats.DeviceBytesUsed);
        json.WriteNumber("device_bytes_budget", stats.DeviceBytesBudget);
        json.WriteNumber("requests_in_flight", pipeline.RequestsInFlight);
        json.WriteNumber("requests_total", stats.RequestsTotal);
        json.WriteNumber("swaps_total", stats.SwapsTotal);
        json.WriteBoolean("prompt_excerpts", admin);
        WriteModels(json);
        WriteSwaps(json);
        if (routeVersion != cursor.Routes)
        {
            WriteRoutes(json);
        }

        WriteSamples(json);
        cursor.Swap = swaps.Count > 0 ? swaps[^1].Seq : cursor.Swap;
        cursor.Sample = samples.Count > 0 ? samples[^1].Seq : cursor.Sample;
        cursor.Routes = routeVersion;
        json.WriteStartObject("cursor");
        json.WriteNumber("swap", cursor.Swap);
        json.WriteNumber("sample", cursor.Sample);
        json.WriteNumber("routes", cursor.Routes);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private void WriteModels(Utf8JsonWriter json)
    {
        json.WriteStartArray("models");
        foreach (var model in pipeline.ListModels())
        {
            json.WriteStartObject();
            json.WriteString("id", model.Name);
            json.WriteString("tier", model.Tier switch
            {
                ModelTierView.Device => "device",
                ModelTierView.Host => "host",
                ModelTierView.Disk => "disk",
                _ => "unknown",
            });
            json.WriteString("state", model.State switch
            {
                ModelStateView.Ready => "ready",
                ModelStateView.SwappingIn => "swapping_in",
                ModelStateView.SwappingOut => "swapping_out",
                ModelStateView.Failed => "failed",
                _ => "unloaded",
            });
            json.WriteNumber("weight_bytes", model.WeightBytes);
            json.WriteBoolean("pinned", model.Pinned);
            json.WriteNumber("in_flight", model.InFlight);
            json.WriteNumber("queued", model.Queued);
            json.WriteString("latency_class", model.LatencyClass.ToString().ToLowerInvariant());
            json.WriteStartArray("capabilities");
            foreach (var capability in model.Capabilities)
            {
                json.WriteStringValue(capability);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private void WriteSwaps(Utf8JsonWriter json)
    {
        json.WriteStartArray("swaps");
        foreach (var record in swaps)
        {
            var swap = record.Swap;
            json.WriteStartObject();
            json.WriteNumber("seq", record.Seq);
            json.WriteNumber("t", record.UnixMs);
            json.WriteString("model", swap.Model);
            json.WriteString("kind", swap.Kind == PoolSwapKind.Evict ? "evict" : "restore");
            json.WriteString("tier", swap.Tier switch
            {
                ModelTier.Cold => "disk",
                ModelTier.Warm => "host",
                _ => "device",
            });
            json.WriteNumber("ms", Math.Round(swap.Duration.TotalMilliseconds, 3));
            json.WriteNumber("bytes", swap.WeightBytes);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private void WriteRoutes(Utf8JsonWriter json)
    {
        json.WriteStartArray("routes");
        foreach (var route in routes)
        {
            json.WriteStartObject();
            json.WriteNumber("seq", route.Seq);
            json.WriteNumber("t", route.UnixMs);
            json.WriteNumber("id", route.RequestId);
            if (admin)
            {
                json.WriteString("excerpt", route.Excerpt);
            }

            json.WriteString("task", route.Task);
            json.WriteNumber("confidence", Math.Round(route.Confidence, 3));
            json.WriteString("stage", route.Stage);
            json.WriteString("policy", route.Policy);
            json.WriteString("model", route.Model);
            json.WriteNumber("route_us", Math.Round(route.RouteTime.TotalMicroseconds, 1));
            json.WriteBoolean("ended", route.Ended);
            if (route.Ended)
            {
                json.WriteString("served_by", route.ServedBy);
                json.WriteString("outcome", route.Outcome);
                json.WriteNumber("tokens", route.Tokens);
                json.WriteNumber("queue_ms", Math.Round(route.QueueWait.TotalMilliseconds, 2));
                Millis(json, "swap_ms", route.SwapTime);
                Millis(json, "ttft_ms", route.TimeToFirstToken);
                json.WriteNumber("total_ms", Math.Round(route.Total.TotalMilliseconds, 2));
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private void WriteSamples(Utf8JsonWriter json)
    {
        json.WriteStartArray("queue");
        foreach (var sample in samples)
        {
            json.WriteStartObject();
            json.WriteNumber("seq", sample.Seq);
            json.WriteNumber("t", sample.UnixMs);
            json.WriteStartObject("queued");
            for (var i = 0; i < sample.Models.Length; i++)
            {
                json.WriteNumber(sample.Models[i], sample.Queued[i]);
            }

            json.WriteEndObject();
            json.WriteStartObject("in_flight");
            for (var i = 0; i < sample.Models.Length; i++)
            {
                json.WriteNumber(sample.Models[i], sample.InFlight[i]);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void Millis(Utf8JsonWriter json, string name, TimeSpan? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, Math.Round(v.TotalMilliseconds, 2));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
