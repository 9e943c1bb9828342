using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModelRouter.Server.Doors.Http;

// The request bodies the OpenAI API defines, as far as this door reads them. Unknown members are ignored (clients
// send many we do not use); members we cannot honour (n > 1, token-array inputs) are refused by name.

/// <summary>What chat and text completions share.</summary>
internal abstract class GenerationBody
{
    [JsonPropertyName("model")] public string? Model { get; set; }

    [JsonPropertyName("stream")] public bool Stream { get; set; }

    [JsonPropertyName("stream_options")] public StreamOptionsBody? StreamOptions { get; set; }

    [JsonPropertyName("temperature")] public float? Temperature { get; set; }

    [JsonPropertyName("top_p")] public float? TopP { get; set; }

    [JsonPropertyName("top_k")] public int? TopK { get; set; }

    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; set; }

    [JsonPropertyName("stop")] public JsonElement Stop { get; set; }

    [JsonPropertyName("seed")] public long? Seed { get; set; }

    [JsonPropertyName("user")] public string? User { get; set; }

    [JsonPropertyName("n")] public int? N { get; set; }

    [JsonPropertyName("modelrouter")] public RouterHintsBody? ModelRouter { get; set; }

    /// <summary>OpenAI's <c>{"type": "text" | "json_object" | "json_schema", "json_schema": {...}}</c> (see ResponseFormats).</summary>
    [JsonPropertyName("response_format")] public JsonElement ResponseFormat { get; set; }

    /// <summary>llama-server's extension: a GBNF grammar (start rule root) the output must follow.</summary>
    [JsonPropertyName("grammar")] public JsonElement Grammar { get; set; }
}

/// <summary>POST /v1/chat/completions.</summary>
internal sealed class ChatCompletionBody : GenerationBody
{
    [JsonPropertyName("messages")] public List<ChatMessageBody>? Messages { get; set; }

    [JsonPropertyName("max_completion_tokens")] public int? MaxCompletionTokens { get; set; }

    /// <summary>OpenAI's tools: <c>[{"type": "function", "function": {"name", "description", "parameters"}}]</c> (see ToolRequests).</summary>
    [JsonPropertyName("tools")] public JsonElement Tools { get; set; }

    /// <summary>"auto", "none", "required", or <c>{"type": "function", "function": {"name": ...}}</c>.</summary>
    [JsonPropertyName("tool_choice")] public JsonElement ToolChoice { get; set; }

    [JsonPropertyName("parallel_tool_calls")] public bool? ParallelToolCalls { get; set; }
}

/// <summary>POST /v1/completions.</summary>
internal sealed class CompletionBody : GenerationBody
{
    [JsonPropertyName("prompt")] public JsonElement Prompt { get; set; }
}

internal sealed class ChatMessageBody
{
    [JsonPropertyName("role")] public string? Role { get; set; }

    /// <summary>A string, or an array of content parts of which only "text" parts are accepted.</summary>
    [JsonPropertyName("content")] public JsonElement Content { get; set; }

    /// <summary>An assistant message's calls: <c>[{"id", "type": "function", "function": {"name", "arguments"}}]</c>.</summary>
    [JsonPropertyName("tool_calls")] public JsonElement ToolCalls { get; set; }

    /// <summary>A tool message: the call it answers.</summary>
    [JsonPropertyName("tool_call_id")] public string? ToolCallId { get; set; }
}

internal sealed class StreamOptionsBody
{
    [JsonPropertyName("include_usage")] public bool IncludeUsage { get; set; }
}

/// <summary>Our extension object: policy hints for a routed request ("model": "auto" or absent).</summary>
internal sealed class RouterHintsBody
{
    [JsonPropertyName("latency_class")] public string? LatencyClass { get; set; }

    [JsonPropertyName("max_cost")] public double? MaxCost { get; set; }

    [JsonPropertyName("capability")] public string? Capability { get; set; }
}

/// <summary>POST /v1/embeddings.</summary>
internal sealed class EmbeddingBody
{
    [JsonPropertyName("model")] public string? Model { get; set; }

    [JsonPropertyName("input")] public JsonElement Input { get; set; }

    [JsonPropertyName("encoding_format")] public string? EncodingFormat { get; set; }

    [JsonPropertyName("normalize")] public bool? Normalize { get; set; }

    [JsonPropertyName("user")] public string? User { get; set; }
}

[JsonSerializable(typeof(ChatCompletionBody))]
[JsonSerializable(typeof(CompletionBody))]
[JsonSerializable(typeof(EmbeddingBody))]
[JsonSourceGenerationOptions(ReadCommentHandling = JsonCommentHandling.Disallow, NumberHandling = JsonNumberHandling.Strict)]
internal sealed partial class OpenAiJsonContext : JsonSerializerContext;
