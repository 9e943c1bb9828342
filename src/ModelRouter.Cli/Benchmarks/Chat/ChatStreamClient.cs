using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>
/// A streamed OpenAI chat client for one server (ours or llama-server): one keep-alive connection, greedy requests with
/// <c>stream_options.include_usage</c>, the time to the first content delta measured from just before the request is
/// sent. Both servers put <c>usage.prompt_tokens_details.cached_tokens</c> in the final usage chunk.
/// </summary>
internal sealed class ChatStreamClient(Uri address, string? token, string model) : IDisposable
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly HttpClient client = new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = 1,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(30),
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        BaseAddress = address,
        Timeout = TimeSpan.FromMinutes(10),
        DefaultRequestHeaders = { Authorization = token is null ? null : new AuthenticationHeaderValue("Bearer", token) },
    };

    /// <summary>The request body: the messages, greedy (temperature 0), at most <paramref name="maxTokens"/>, streamed with usage.</summary>
    public static byte[] Body(string model, IReadOnlyList<ChatMessage> messages, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var body = new ArrayBufferWriter<byte>(4096);
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("model", model);
            json.WriteStartArray("messages");
            foreach (var message in messages)
            {
                json.WriteStartObject();
                json.WriteString("role", message.Role);
                json.WriteString("content", message.Content);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteNumber("max_tokens", maxTokens);
            json.WriteNumber("temperature", 0);
            json.WriteBoolean("stream", true);
            json.WriteStartObject("stream_options");
            json.WriteBoolean("include_usage", true);
            json.WriteEndObject();
            // llama-server's slot prompt cache (its default, named for the reader); our server ignores the member.
            json.WriteBoolean("cache_prompt", true);
            json.WriteEndObject();
        }

        return body.WrittenSpan.ToArray();
    }

    /// <summary>
    /// One token of a raw prompt (POST /v1/completions) that shares no prefix with the chat, so the first turn does not
    /// pay for llama.cpp's first graph and no mode starts with part of the conversation cached.
    /// </summary>
    public async Task WarmUpAsync(CancellationToken cancellation)
    {
        var body = Encoding.UTF8.GetBytes($$"""{"model":"{{model}}","prompt":"Hello","max_tokens":1,"temperature":0}""");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/completions", UriKind.Relative))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = Json } },
        };
        using var response = await client.SendAsync(request, cancellation).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            var text = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
            throw new InvalidOperationException($"warm-up: {address} answered {(int)response.StatusCode} {response.ReasonPhrase}: {text}");
        }
    }

    /// <summary>Sends one turn and reads its stream to [DONE].</summary>
    public async Task<ChatTurn> SendAsync(int turn, IReadOnlyList<ChatMessage> messages, int maxTokens, CancellationToken cancellation)
    {
        var body = Body(model, messages, maxTokens);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/chat/completions", UriKind.Relative))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = Json } },
        };
        var start = Stopwatch.GetTimestamp();
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            var text = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
            throw new InvalidOperationException($"turn {turn}: {address} answered {(int)response.StatusCode} {response.ReasonPhrase}: {text}");
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false), Encoding.UTF8);
        var stream = new ChatStreamReader();
        double? ttft = null;
        while (await reader.ReadLineAsync(cancellation).ConfigureAwait(false) is { } line)
        {
            if (stream.Read(line) && ttft is null)
            {
                ttft = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }

            if (stream.Done)
            {
                break;
            }
        }

        var total = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (!stream.Done)
        {
            throw new InvalidOperationException($"turn {turn}: the stream from {address} ended before data: [DONE]");
        }

        if (stream.PromptTokens is not { } prompt || stream.CompletionTokens is not { } completion)
        {
            throw new InvalidOperationException($"turn {turn}: the stream from {address} carried no usage chunk");
        }

        // An answer of no text (the model ended at once) has no content delta: its first token is bounded by the end.
        return new ChatTurn(turn, prompt, stream.CachedTokens ?? 0, completion, ttft ?? total, total, stream.Content);
    }

    public void Dispose() => client.Dispose();
}

/// <summary>
/// Reads a chat completion's SSE lines: content deltas (appended to <see cref="Content"/>), the usage chunk, errors and
/// <c>[DONE]</c>. Pure, so the parsing is tested without a server.
/// </summary>
public sealed class ChatStreamReader
{
    private readonly StringBuilder content = new();

    public string Content => content.ToString();

    public int? PromptTokens { get; private set; }

    public int? CachedTokens { get; private set; }

    public int? CompletionTokens { get; private set; }

    public bool Done { get; private set; }

    /// <summary>Reads one line; true when it carried content text (a token event).</summary>
    /// <exception cref="InvalidOperationException">The stream sent an error event, or a data line that is not JSON.</exception>
    public bool Read(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (!line.StartsWith("data:", StringComparison.Ordinal))
        {
            return false; // blank lines between events, comments, keep-alives
        }

        var payload = line.AsSpan(5).Trim();
        if (payload.SequenceEqual("[DONE]"))
        {
            Done = true;
            return false;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload.ToString());
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException("the stream carried a data line that is not JSON: " + payload.ToString(), ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.TryGetProperty("error", out var error))
            {
                throw new InvalidOperationException("the server sent an error in the stream: " + error.GetRawText());
            }

            if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                PromptTokens = Int(usage, "prompt_tokens") ?? PromptTokens;
                CompletionTokens = Int(usage, "completion_tokens") ?? CompletionTokens;
                if (usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object)
                {
                    CachedTokens = Int(details, "cached_tokens") ?? CachedTokens;
                }
            }

            var text = false;
            if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
            {
                foreach (var choice in choices.EnumerateArray())
                {
                    if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object
                        && delta.TryGetProperty("content", out var piece) && piece.ValueKind == JsonValueKind.String
                        && piece.GetString() is { Length: > 0 } s)
                    {
                        content.Append(s);
                        text = true;
                    }
                }
            }

            return text;
        }
    }

    private static int? Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt32() : null;
}
