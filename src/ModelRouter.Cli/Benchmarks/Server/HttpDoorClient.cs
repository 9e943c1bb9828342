using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace ModelRouter.Cli.Benchmarks.Server;

/// <summary>
/// A lean OpenAI-compatible client for the HTTP door: one keep-alive HTTP/1.1 connection (SocketsHttpHandler with one
/// connection per server), request bodies serialized once, answers read as bytes. Streams are read as they arrive
/// (a pipe over the response body, split into SSE lines, each <c>data:</c> event parsed with a Utf8JsonReader); the
/// token count is the final usage event's, as an OpenAI client gets it with <c>stream_options.include_usage</c>.
/// Every answer must name <paramref name="servedModel"/>: a routed request that went elsewhere fails the run.
/// </summary>
internal sealed class HttpDoorClient(Uri address, string token, string servedModel) : IDisposable
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] DoneMarker = "[DONE]"u8.ToArray();
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly HttpClient client = new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = 1,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        BaseAddress = address,
        Timeout = TimeSpan.FromMinutes(5),
        DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
    };

    private readonly byte[] servedModel = System.Text.Encoding.UTF8.GetBytes(servedModel);

    /// <summary>SSE events that carried text in the last stream (the door coalesces tokens that arrive together).</summary>
    public int LastTextEvents { get; private set; }

    /// <summary>POST /v1/completions, greedy (temperature 0), no stop strings.</summary>
    public static byte[] CompletionBody(string model, string prompt, int maxTokens, bool stream)
    {
        var body = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("model", model);
            json.WriteString("prompt", prompt);
            json.WriteNumber("max_tokens", maxTokens);
            json.WriteNumber("temperature", 0);
            if (stream)
            {
                json.WriteBoolean("stream", true);
                json.WriteStartObject("stream_options");
                json.WriteBoolean("include_usage", true);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return body.WrittenSpan.ToArray();
    }

    /// <summary>GET /health: the HTTP stack alone (no authentication, no model).</summary>
    public async Task HealthAsync(CancellationToken cancellation)
    {
        using var response = await client.GetAsync(new Uri("/health", UriKind.Relative), cancellation).ConfigureAwait(false);
        await EnsureOkAsync(response, cancellation).ConfigureAwait(false);
    }

    /// <summary>A non-streaming completion; returns usage.completion_tokens.</summary>
    public async Task<int> CompleteAsync(byte[] body, CancellationToken cancellation)
    {
        using var request = Post(body);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellation).ConfigureAwait(false);
        await EnsureOkAsync(response, cancellation).ConfigureAwait(false);
        var answer = await response.Content.ReadAsByteArrayAsync(cancellation).ConfigureAwait(false);
        var (tokens, _) = Parse(new ReadOnlySequence<byte>(answer));
        return tokens ?? throw new InvalidOperationException("the HTTP completion carried no usage.completion_tokens");
    }

    /// <summary>A streamed completion (SSE) read to [DONE]; returns the final usage event's completion_tokens.</summary>
    public async Task<int> StreamAsync(byte[] body, CancellationToken cancellation)
    {
        using var request = Post(body);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        await EnsureOkAsync(response, cancellation).ConfigureAwait(false);
        var reader = PipeReader.Create(await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false),
            new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024));
        int? tokens = null;
        var textEvents = 0;
        var done = false;
        try
        {
            while (!done)
            {
                var read = await reader.ReadAsync(cancellation).ConfigureAwait(false);
                var buffer = read.Buffer;
                while (!done && TryReadLine(ref buffer, out var line))
                {
                    if (line.IsEmpty)
                    {
                        continue; // the blank line that ends an event
                    }

                    if (line.Length < DataPrefix.Length || !StartsWith(line, DataPrefix))
                    {
                        throw new InvalidOperationException("the SSE stream carried a line that is not a data: event");
                    }

                    var payload = line.Slice(DataPrefix.Length);
                    if (payload.Length == DoneMarker.Length && StartsWith(payload, DoneMarker))
                    {
                        done = true;
                        break;
                    }

                    var (usage, text) = Parse(payload);
                    tokens = usage ?? tokens;
                    textEvents += text ? 1 : 0;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted && !done)
                {
                    throw new InvalidOperationException("the SSE stream ended before data: [DONE]");
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }

        LastTextEvents = textEvents;
        return tokens ?? throw new InvalidOperationException("the SSE stream carried no usage event (stream_options.include_usage)");
    }

    public void Dispose() => client.Dispose();

    private static HttpRequestMessage Post(byte[] body) =>
        new(HttpMethod.Post, new Uri("/v1/completions", UriKind.Relative)) { Content = new ByteArrayContent(body) { Headers = { ContentType = Json } } };

    private static async Task EnsureOkAsync(HttpResponseMessage response, CancellationToken cancellation)
    {
        if (response.StatusCode != HttpStatusCode.OK)
        {
            var text = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
            throw new InvalidOperationException($"the HTTP door answered {(int)response.StatusCode} {response.ReasonPhrase}: {text}");
        }
    }

    /// <summary>
    /// One JSON answer or SSE event: its usage.completion_tokens (null when absent), whether a choice carried text, and
    /// a check that every "model" named is the served one; an "error" object fails the run.
    /// </summary>
    private (int? CompletionTokens, bool Text) Parse(ReadOnlySequence<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        int? tokens = null;
        var text = false;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("completion_tokens"u8))
            {
                reader.Read();
                tokens = reader.GetInt32();
            }
            else if (reader.ValueTextEquals("text"u8))
            {
                reader.Read();
                text |= (reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length) > 0;
            }
            else if (reader.ValueTextEquals("model"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String || !reader.ValueTextEquals(servedModel))
                {
                    throw new InvalidOperationException($"the HTTP door served another model: {reader.GetString()}");
                }
            }
            else if (reader.ValueTextEquals("error"u8) && reader.CurrentDepth == 1)
            {
                throw new InvalidOperationException("the HTTP door sent an error: " + System.Text.Encoding.UTF8.GetString(json.ToArray()));
            }
        }

        return (tokens, text);
    }

    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        if (buffer.PositionOf((byte)'\n') is not { } end)
        {
            line = default;
            return false;
        }

        line = buffer.Slice(0, end);
        buffer = buffer.Slice(buffer.GetPosition(1, end));
        return true;
    }

    private static bool StartsWith(ReadOnlySequence<byte> sequence, ReadOnlySpan<byte> prefix)
    {
        if (sequence.FirstSpan.Length >= prefix.Length)
        {
            return sequence.FirstSpan.StartsWith(prefix);
        }

        Span<byte> head = stackalloc byte[prefix.Length];
        sequence.Slice(0, prefix.Length).CopyTo(head);
        return head.SequenceEqual(prefix);
    }
}
