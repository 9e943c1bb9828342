using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace ModelRouter.Routing.Fallback;

/// <summary>
/// A remote model behind an OpenAI-compatible API: POST {endpoint}/v1/chat/completions with "stream": true, read as
/// server-sent events ("data: {json}" lines, ending with "data: [DONE]"). HTTP failures become
/// <see cref="UpstreamException"/>s with their kind (rate limit, overload, server error, rejection) so the chain's
/// retry and circuit-breaker rules can tell them apart.
/// </summary>
public sealed class OpenAiCompatibleBackend : IChatBackend
{
    private readonly HttpClient http;
    private readonly Uri completions;
    private readonly string model;
    private readonly string? apiKey;

    public OpenAiCompatibleBackend(string name, HttpClient http, Uri endpoint, string model, string? apiKey = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(endpoint);
        Name = name;
        this.http = http;
        this.model = model;
        this.apiKey = apiKey;
        completions = new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/v1/chat/completions");
    }

    public string Name { get; }

    public bool IsLocal => false;

    public async IAsyncEnumerable<string> StreamAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var message = new HttpRequestMessage(HttpMethod.Post, completions) { Content = Body(request) };
        if (apiKey is not null)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await Failure(response, cancellationToken).ConfigureAwait(false);
        }

        using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
            {
                continue; // blank separators, comments (": keep-alive"), event names
            }

            var data = line.AsSpan(5).Trim();
            if (data.SequenceEqual("[DONE]"))
            {
                yield break;
            }

            if (Delta(data) is { Length: > 0 } text)
            {
                yield return text;
            }
        }

        throw new UpstreamException(Name, UpstreamFailure.Malformed, null, null, "the stream ended without [DONE] (connection closed mid-answer)");
    }

    private StringContent Body(ChatRequest request)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("model", model);
            json.WriteStartArray("messages");
            json.WriteStartObject();
            json.WriteString("role", "user");
            json.WriteString("content", request.Prompt);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteNumber("max_tokens", request.MaxTokens);
            json.WriteNumber("temperature", request.Temperature);
            json.WriteBoolean("stream", true);
            json.WriteEndObject();
        }

        return new StringContent(Encoding.UTF8.GetString(buffer.ToArray()), Encoding.UTF8, "application/json");
    }

    private string? Delta(ReadOnlySpan<char> data)
    {
        try
        {
            using var document = JsonDocument.Parse(data.ToString());
            if (document.RootElement.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array
                && choices.GetArrayLength() > 0 && choices[0].TryGetProperty("delta", out var delta)
                && delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            {
                return content.GetString();
            }

            return null;
        }
        catch (JsonException ex)
        {
            throw new UpstreamException(Name, UpstreamFailure.Malformed, null, null, "a stream event is not valid JSON: " + ex.Message);
        }
    }

    private async Task<UpstreamException> Failure(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var kind = response.StatusCode switch
        {
            HttpStatusCode.TooManyRequests => UpstreamFailure.RateLimited,
            HttpStatusCode.ServiceUnavailable or (HttpStatusCode)529 => UpstreamFailure.Overloaded,
            _ when status >= 500 => UpstreamFailure.ServerError,
            _ => UpstreamFailure.Rejected,
        };
        var retryAfter = response.Headers.RetryAfter?.Delta
            ?? (response.Headers.RetryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        string body;
        try
        {
            body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            body = string.Empty;
        }

        return new UpstreamException(Name, kind, status, retryAfter, body.Length > 200 ? body[..200] : body);
    }
}
