using System.Text.Json;

namespace ModelRouter.Cli.Benchmarks.Swap;

/// <summary>
/// Reads llama-server's OpenAI-style streams (server-sent events): which line carries the first generated token.
/// A token event is a <c>data:</c> line whose JSON has a non-empty <c>choices[0].text</c> (/v1/completions) or
/// <c>choices[0].delta.content</c> (/v1/chat/completions); role-only deltas, comments, keep-alives and
/// <c>[DONE]</c> are not tokens.
/// </summary>
public static class ServerSentTokens
{
    /// <summary>True when <paramref name="line"/> is an SSE data line carrying generated text.</summary>
    public static bool IsTokenEvent(string line)
    {
        if (!line.StartsWith("data:", StringComparison.Ordinal))
        {
            return false;
        }

        var payload = line.AsSpan(5).Trim();
        if (payload.IsEmpty || payload.SequenceEqual("[DONE]"))
        {
            return false;
        }

        try
        {
            using var json = JsonDocument.Parse(payload.ToString());
            if (!json.RootElement.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0)
            {
                return false;
            }

            var choice = choices[0];
            if (choice.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String && text.GetString()!.Length > 0)
            {
                return true;
            }

            return choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object
                && delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String && content.GetString()!.Length > 0;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Reads lines until the first token event; false when the stream ends without one.</summary>
    public static async Task<bool> ReadToFirstTokenAsync(TextReader reader, CancellationToken cancellation)
    {
        while (await reader.ReadLineAsync(cancellation).ConfigureAwait(false) is { } line)
        {
            if (IsTokenEvent(line))
            {
                return true;
            }
        }

        return false;
    }
}
