using System.Text.Json;
using ModelRouter.Runtime.Chat;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Http;

/// <summary>
/// Reads OpenAI's tool fields of a chat request, checking their JSON shape as OpenAI does (the model's template and
/// llama.cpp's chat layer check the rest when the chat is rendered):
/// <code>
/// "tools": [{"type": "function", "function": {"name": "get_weather", "description": "...", "parameters": {...}}}]
/// "tool_choice": "auto" | "none" | "required" | {"type": "function", "function": {"name": "get_weather"}}
/// "parallel_tool_calls": true | false                          (default false, as llama-server)
/// messages[i].tool_calls: [{"id", "type": "function", "function": {"name", "arguments": "{...}"}}]   (assistant)
/// messages[i].tool_call_id: "call_..."                                                             (tool)
/// </code>
/// A tool_choice naming a function becomes that function alone with a call required.
/// </summary>
internal static class ToolRequests
{
    /// <summary>OpenAI's limit on tools per request.</summary>
    public const int MaxTools = 128;

    public static ToolsRequest? Read(ChatCompletionBody body)
    {
        var hasTools = body.Tools.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null);
        var hasChoice = body.ToolChoice.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null);
        if (!hasTools || (body.Tools.ValueKind == JsonValueKind.Array && body.Tools.GetArrayLength() == 0))
        {
            if (hasChoice && !(body.ToolChoice.ValueKind == JsonValueKind.String && body.ToolChoice.GetString() is "none" or "auto"))
            {
                throw new BadRequestBodyException("tool_choice needs tools: the request offers none", "tool_choice");
            }

            return null;
        }

        if (body.Tools.ValueKind != JsonValueKind.Array)
        {
            throw new BadRequestBodyException("tools must be an array of {\"type\": \"function\", \"function\": {...}}", "tools");
        }

        if (body.Tools.GetArrayLength() > MaxTools)
        {
            throw new BadRequestBodyException($"tools has {body.Tools.GetArrayLength()} entries; at most {MaxTools} are accepted", "tools");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var tool in body.Tools.EnumerateArray())
        {
            var name = FunctionName(tool, index);
            if (!names.Add(name))
            {
                throw new BadRequestBodyException($"tools[{index}]: function '{name}' is offered twice", $"tools[{index}].function.name");
            }

            index++;
        }

        var parallel = body.ParallelToolCalls ?? false;
        if (!hasChoice)
        {
            return new ToolsRequest(body.Tools.GetRawText(), ToolChoice.Auto, parallel);
        }

        if (body.ToolChoice.ValueKind == JsonValueKind.String)
        {
            return body.ToolChoice.GetString() switch
            {
                "auto" => new ToolsRequest(body.Tools.GetRawText(), ToolChoice.Auto, parallel),
                "required" => new ToolsRequest(body.Tools.GetRawText(), ToolChoice.Required, parallel),
                "none" => new ToolsRequest(body.Tools.GetRawText(), ToolChoice.None, parallel),
                var other => throw new BadRequestBodyException($"tool_choice must be auto, none, required or a function, not '{other}'", "tool_choice"),
            };
        }

        if (body.ToolChoice.ValueKind == JsonValueKind.Object
            && body.ToolChoice.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "function"
            && body.ToolChoice.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object
            && function.TryGetProperty("name", out var chosen) && chosen.ValueKind == JsonValueKind.String)
        {
            var wanted = chosen.GetString()!;
            foreach (var tool in body.Tools.EnumerateArray())
            {
                if (tool.GetProperty("function").GetProperty("name").GetString() == wanted)
                {
                    return new ToolsRequest("[" + tool.GetRawText() + "]", ToolChoice.Required, ParallelCalls: false);
                }
            }

            throw new BadRequestBodyException($"tool_choice names function '{wanted}', which is not among the tools", "tool_choice.function.name");
        }

        throw new BadRequestBodyException("tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice");
    }

    /// <summary>The message as the chat layer reads it: its role and text, and the tool fields OpenAI defines for it.</summary>
    public static ChatTurn Turn(ChatMessageBody message, string role, string content, int index)
    {
        string? calls = null;
        if (message.ToolCalls.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            if (role != "assistant")
            {
                throw new BadRequestBodyException($"messages[{index}]: only assistant messages carry tool_calls", $"messages[{index}].tool_calls");
            }

            if (message.ToolCalls.ValueKind != JsonValueKind.Array || !message.ToolCalls.EnumerateArray().All(IsCall))
            {
                throw new BadRequestBodyException(
                    $"messages[{index}].tool_calls must be an array of {{\"id\", \"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}",
                    $"messages[{index}].tool_calls");
            }

            calls = message.ToolCalls.GetArrayLength() > 0 ? message.ToolCalls.GetRawText() : null;
        }

        if (role == "tool" && string.IsNullOrEmpty(message.ToolCallId))
        {
            throw new BadRequestBodyException($"messages[{index}]: a tool message needs the tool_call_id it answers", $"messages[{index}].tool_call_id");
        }

        return new ChatTurn(role, content) { ToolCallsJson = calls, ToolCallId = role == "tool" ? message.ToolCallId : null };
    }

    private static bool IsCall(JsonElement call) =>
        call.ValueKind == JsonValueKind.Object
        && call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object
        && function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
        && (!function.TryGetProperty("arguments", out var arguments) || arguments.ValueKind is JsonValueKind.String or JsonValueKind.Object);

    private static string FunctionName(JsonElement tool, int index)
    {
        if (tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
            || type.GetString() != "function")
        {
            throw new BadRequestBodyException($"tools[{index}] must be {{\"type\": \"function\", \"function\": {{...}}}}", $"tools[{index}].type");
        }

        if (!tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
            || !function.TryGetProperty("name", out var nameElement) || nameElement.ValueKind != JsonValueKind.String)
        {
            throw new BadRequestBodyException($"tools[{index}].function must be an object with a string name", $"tools[{index}].function");
        }

        var name = nameElement.GetString()!;
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
        {
            throw new BadRequestBodyException($"tools[{index}].function.name '{name}' must be 1-64 letters, digits, underscores or dashes", $"tools[{index}].function.name");
        }

        if (function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
        {
            throw new BadRequestBodyException($"tools[{index}].function.parameters must be a JSON Schema object", $"tools[{index}].function.parameters");
        }

        return name;
    }
}
