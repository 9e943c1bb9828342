using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Http;

/// <summary>GET /v1/models (OpenAI's list, with our tier and capabilities), the admin operations and GET /admin/models.</summary>
internal static class ModelEndpoints
{
    public static async Task ListAsync(HttpContext context, RequestPipeline pipeline)
    {
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, HttpBodies.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("object", "list");
            json.WriteStartArray("data");
            foreach (var model in pipeline.ListModels())
            {
                json.WriteStartObject();
                Model(json, model, admin: false);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    public static async Task GetAsync(HttpContext context, RequestPipeline pipeline, string name)
    {
        var model = pipeline.ListModels().FirstOrDefault(m => m.Name == name);
        if (model is null)
        {
            await HttpErrors.WriteAsync(context, 404, "model_not_found", $"no model named '{name}'", "model").ConfigureAwait(false);
            return;
        }

        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, HttpBodies.WriterOptions))
        {
            json.WriteStartObject();
            Model(json, model, admin: false);
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>GET /admin/models: each model's tier, bytes, pinned and in-flight.</summary>
    public static async Task AdminListAsync(HttpContext context, RequestPipeline pipeline)
    {
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, HttpBodies.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteStartArray("models");
            foreach (var model in pipeline.ListModels())
            {
                json.WriteStartObject();
                Model(json, model, admin: true);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            var stats = pipeline.Stats();
            json.WriteNumber("device_bytes_used", stats.DeviceBytesUsed);
            json.WriteNumber("device_bytes_budget", stats.DeviceBytesBudget);
            json.WriteNumber("requests_in_flight", pipeline.RequestsInFlight);
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>POST /admin/models/{name}/{preload|pin|unpin|evict}.</summary>
    public static async Task AdminAsync(HttpContext context, RequestPipeline pipeline, RequestCaller caller, string name, string operation)
    {
        AdminAction action;
        switch (operation)
        {
            case "preload": action = AdminAction.Preload; break;
            case "pin": action = AdminAction.Pin; break;
            case "unpin": action = AdminAction.Unpin; break;
            case "evict": action = AdminAction.Evict; break;
            default:
                await HttpErrors.WriteAsync(context, 404, "unknown_operation", $"'{operation}' is not one of preload, pin, unpin, evict").ConfigureAwait(false);
                return;
        }

        AdminOutcome outcome;
        try
        {
            outcome = await pipeline.AdminAsync(caller, action, name, context.RequestAborted).ConfigureAwait(false);
        }
        catch (RequestException ex)
        {
            await HttpErrors.WriteAsync(context, ex).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, HttpBodies.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("operation", operation);
            json.WriteString("model", outcome.Model);
            json.WriteString("tier", Tier(outcome.Tier));
            json.WriteString("state", State(outcome.State));
            json.WriteNumber("elapsed_ms", outcome.Elapsed.TotalMilliseconds);
            json.WriteString("message", outcome.Message);
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static void Model(Utf8JsonWriter json, ModelView model, bool admin)
    {
        json.WriteString("id", model.Name);
        if (!admin)
        {
            json.WriteString("object", "model");
            json.WriteNumber("created", 0);
            json.WriteString("owned_by", "modelrouter");
            json.WriteStartObject("modelrouter");
        }

        json.WriteString("tier", Tier(model.Tier));
        json.WriteString("state", State(model.State));
        json.WriteNumber("weight_bytes", model.WeightBytes);
        json.WriteBoolean("pinned", model.Pinned);
        json.WriteNumber("in_flight", model.InFlight);
        json.WriteNumber("queued", model.Queued);
        json.WriteNumber("cost_per_1k_tokens", model.CostPer1kTokens);
        json.WriteString("latency_class", model.LatencyClass.ToString().ToLowerInvariant());
        json.WriteStartArray("capabilities");
        foreach (var capability in model.Capabilities)
        {
            json.WriteStringValue(capability);
        }

        json.WriteEndArray();
        if (!admin)
        {
            json.WriteEndObject();
        }
    }

    private static string Tier(ModelTierView tier) => tier switch
    {
        ModelTierView.Device => "device",
        ModelTierView.Host => "host",
        ModelTierView.Disk => "disk",
        _ => "unknown",
    };

    private static string State(ModelStateView state) => state switch
    {
        ModelStateView.Ready => "ready",
        ModelStateView.SwappingIn => "swapping_in",
        ModelStateView.SwappingOut => "swapping_out",
        ModelStateView.Failed => "failed",
        _ => "unloaded",
    };
}
