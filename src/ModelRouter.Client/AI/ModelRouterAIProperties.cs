using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.AI;
using ModelRouter.Protocol;

namespace ModelRouter.Client.AI;

/// <summary>
/// Keys of <c>AdditionalProperties</c> that the Microsoft.Extensions.AI adapters read (routing hints on
/// <see cref="ChatOptions"/>) and write (the done frame's statistics on <see cref="ChatResponse"/> and on the last
/// <see cref="ChatResponseUpdate"/>).
/// </summary>
public static class ModelRouterAIProperties
{
    /// <summary>Provider name in <see cref="ChatClientMetadata"/> and <see cref="EmbeddingGeneratorMetadata"/>.</summary>
    public const string ProviderName = "modelrouter";

    /// <summary>Option: routing hint latency class, "realtime", "interactive" or "batch" (or a <see cref="Protocol.LatencyClass"/> value).</summary>
    public const string LatencyClass = "modelrouter.latency_class";

    /// <summary>Option: routing hint, a capability the chosen model must have (e.g. "code").</summary>
    public const string Capability = "modelrouter.capability";

    /// <summary>Option: routing hint, the most the request may cost in the catalog's cost units (a number).</summary>
    public const string MaxCost = "modelrouter.max_cost";

    /// <summary>Embedding option: L2-normalise the vectors (bool, default true).</summary>
    public const string Normalize = "modelrouter.normalize";

    /// <summary>Result: the task type the router named (empty when the request named its model).</summary>
    public const string TaskType = "modelrouter.task_type";

    /// <summary>Result: the whole <see cref="GenerationStats"/> of the done frame.</summary>
    public const string Stats = "modelrouter.stats";

    /// <summary>Result: time spent routing (<see cref="TimeSpan"/>; zero when the model was named).</summary>
    public const string RouteTime = "modelrouter.route_time";

    /// <summary>Result: time queued before a worker took the request (<see cref="TimeSpan"/>).</summary>
    public const string QueueWait = "modelrouter.queue_wait";

    /// <summary>Result: time bringing the model onto the GPU for this request (<see cref="TimeSpan"/>; zero when resident).</summary>
    public const string SwapTime = "modelrouter.swap_time";

    /// <summary>Result: from the server receiving the request to the first token (<see cref="TimeSpan"/>).</summary>
    public const string TimeToFirstToken = "modelrouter.time_to_first_token";

    /// <summary>Result: from the server receiving the request to the done frame (<see cref="TimeSpan"/>).</summary>
    public const string TotalTime = "modelrouter.total_time";

    /// <summary>Result: decoding speed after the first token (<see cref="float"/>, tokens per second).</summary>
    public const string TokensPerSecond = "modelrouter.tokens_per_second";

    /// <summary>The server's statistics as additional properties.</summary>
    internal static AdditionalPropertiesDictionary FromResult(GenerationResult result) => new()
    {
        [TaskType] = result.TaskType,
        [Stats] = result.Stats,
        [RouteTime] = result.Stats.RouteTime,
        [QueueWait] = result.Stats.QueueWait,
        [SwapTime] = result.Stats.SwapTime,
        [TimeToFirstToken] = result.Stats.TimeToFirstToken,
        [TotalTime] = result.Stats.TotalTime,
        [TokensPerSecond] = result.Stats.TokensPerSecond,
    };

    internal static UsageDetails Usage(in GenerationStats stats) => new()
    {
        InputTokenCount = stats.PromptTokens,
        OutputTokenCount = stats.GeneratedTokens,
        TotalTokenCount = (long)stats.PromptTokens + stats.GeneratedTokens,
    };

    /// <summary>stop for end of text and stop sequences, length for max tokens and a full context, null when unknown.</summary>
    internal static ChatFinishReason? MapFinishReason(Protocol.FinishReason reason) => reason switch
    {
        Protocol.FinishReason.EndOfText or Protocol.FinishReason.StopSequence => ChatFinishReason.Stop,
        Protocol.FinishReason.MaxTokens or Protocol.FinishReason.ContextFull => ChatFinishReason.Length,
        Protocol.FinishReason.Cancelled => new ChatFinishReason("cancelled"),
        _ => null,
    };

    /// <summary>tcp://host:port or unix:///path; null over a pipe or for an endpoint that makes no URI.</summary>
    internal static Uri? EndpointUri(EndPoint? endpoint)
    {
        var text = endpoint switch
        {
            IPEndPoint ip => $"tcp://{ip}",
            DnsEndPoint dns => $"tcp://{dns.Host}:{dns.Port.ToString(CultureInfo.InvariantCulture)}",
            UnixDomainSocketEndPoint unix => "unix://" + unix,
            _ => null,
        };
        return text is not null && Uri.TryCreate(text, UriKind.Absolute, out var uri) ? uri : null;
    }

    internal static Protocol.LatencyClass GetLatencyClass(AdditionalPropertiesDictionary? properties)
    {
        if (properties is null || !properties.TryGetValue(LatencyClass, out var value) || value is null)
        {
            return Protocol.LatencyClass.Unspecified;
        }

        if (value is Protocol.LatencyClass latency && latency <= Protocol.LatencyClass.Batch)
        {
            return latency;
        }

        var text = value switch
        {
            string s => s,
            JsonElement { ValueKind: JsonValueKind.String } json => json.GetString(),
            _ => null,
        };
        return text?.Trim().ToLowerInvariant() switch
        {
            "" or "unspecified" => Protocol.LatencyClass.Unspecified,
            "realtime" => Protocol.LatencyClass.Realtime,
            "interactive" => Protocol.LatencyClass.Interactive,
            "batch" => Protocol.LatencyClass.Batch,
            _ => throw new ArgumentException($"{LatencyClass} must be realtime, interactive or batch, not '{value}'"),
        };
    }

    internal static string? GetString(AdditionalPropertiesDictionary? properties, string key)
    {
        if (properties is null || !properties.TryGetValue(key, out var value) || value is null)
        {
            return null;
        }

        return value switch
        {
            string s => s.Length == 0 ? null : s,
            JsonElement { ValueKind: JsonValueKind.String } json => json.GetString() is { Length: > 0 } s ? s : null,
            _ => throw new ArgumentException($"{key} must be a string, not a {value.GetType().Name}"),
        };
    }

    internal static float GetCost(AdditionalPropertiesDictionary? properties)
    {
        if (properties is null || !properties.TryGetValue(MaxCost, out var value) || value is null)
        {
            return 0;
        }

        double cost = value switch
        {
            float f => f,
            double d => d,
            decimal m => (double)m,
            int i => i,
            long l => l,
            string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.Number } json => json.GetDouble(),
            _ => double.NaN,
        };
        if (!double.IsFinite(cost) || cost < 0 || cost > float.MaxValue)
        {
            throw new ArgumentException($"{MaxCost} must be a finite, non-negative number, not '{value}'");
        }

        return (float)cost;
    }

    internal static bool GetBool(AdditionalPropertiesDictionary? properties, string key, bool fallback)
    {
        if (properties is null || !properties.TryGetValue(key, out var value) || value is null)
        {
            return fallback;
        }

        return value switch
        {
            bool b => b,
            string s when bool.TryParse(s, out var parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.True } => true,
            JsonElement { ValueKind: JsonValueKind.False } => false,
            _ => throw new ArgumentException($"{key} must be a bool, not '{value}'"),
        };
    }
}
