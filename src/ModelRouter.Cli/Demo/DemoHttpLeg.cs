using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ModelRouter.Cli.Demo;

/// <summary>
/// The demo's second door: a few routed chats through the OpenAI-compatible HTTP API (one streamed), printed with
/// the model and timings the server reports in its x-modelrouter-* headers, then a curl line to paste.
/// </summary>
internal sealed class DemoHttpLeg(Uri address, TextWriter output)
{
    private const string Token = "demo";

    public async Task RunAsync(List<(string Label, string Text)> prompts, int maxTokens, CancellationToken cancellation)
    {
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        output.WriteLine();
        output.WriteLine($"HTTP door {address} (OpenAI-compatible): routed chats, \"model\": \"auto\"");
        var c = CultureInfo.InvariantCulture;
        for (var i = 0; i < Math.Min(4, prompts.Count); i++)
        {
            var (_, text) = prompts[(i * 5) % prompts.Count];
            var stream = i == 3;
            var body = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = "auto",
                ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = text } },
                ["max_tokens"] = maxTokens,
                ["temperature"] = 0.7,
                ["stream"] = stream,
                ["stream_options"] = new Dictionary<string, bool> { ["include_usage"] = stream },
            });
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
            var answer = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                output.WriteLine($"  HTTP {(int)response.StatusCode}: {answer}");
                continue;
            }

            var (completion, stats) = stream ? FromStream(answer) : FromJson(answer);
            output.WriteLine(string.Format(c, "  {0,-6} {1,-14} → {2,-13} queue {3,7:F1} ms  swap {4,7:F1} ms  ttft {5,7:F1} ms  {6,3} tokens  \"{7}\"",
                stream ? "stream" : "json", Header(response, "x-modelrouter-task"), Header(response, "x-modelrouter-model"),
                stats.GetProperty("queue_ms").GetDouble(), stats.GetProperty("swap_ms").GetDouble(), stats.GetProperty("ttft_ms").GetDouble(),
                completion.Tokens, Excerpt(text)));
        }

        output.WriteLine();
        output.WriteLine("Try it while the server runs (./build.sh run --keep-running), or point any OpenAI client at it:");
        output.WriteLine($"  curl -s {address}v1/chat/completions -H 'Authorization: Bearer {Token}' -H 'Content-Type: application/json' \\");
        output.WriteLine("       -d '{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a haiku about swapping models\"}],\"max_tokens\":32}'");
    }

    private static ((string Text, int Tokens), JsonElement Stats) FromJson(string answer)
    {
        using var doc = JsonDocument.Parse(answer);
        var root = doc.RootElement;
        return ((root.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() ?? "",
            root.GetProperty("usage").GetProperty("completion_tokens").GetInt32()), root.GetProperty("modelrouter").Clone());
    }

    /// <summary>Reads an SSE answer: the text deltas, and the stats our extension adds to the chunk with the finish reason.</summary>
    private static ((string Text, int Tokens), JsonElement Stats) FromStream(string answer)
    {
        var text = new StringBuilder();
        var tokens = 0;
        JsonElement stats = default;
        foreach (var line in answer.Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal))
            {
                continue;
            }

            using var doc = JsonDocument.Parse(line["data: ".Length..]);
            var root = doc.RootElement;
            if (root.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
                && choices[0].GetProperty("delta").TryGetProperty("content", out var delta))
            {
                text.Append(delta.GetString());
            }

            if (root.TryGetProperty("usage", out var usage))
            {
                tokens = usage.GetProperty("completion_tokens").GetInt32();
            }

            if (root.TryGetProperty("modelrouter", out var extension))
            {
                stats = extension.Clone();
            }
        }

        return ((text.ToString(), tokens), stats);
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.First() : "-";

    private static string Excerpt(string text) => text.Length <= 40 ? text : text[..37] + "...";
}
