using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace ModelRouter.Routing.Fallback;

/// <summary>One piece of a remote's stream: text (possibly empty), and the finish reason and usage once the upstream sends them.</summary>
public readonly record struct RemoteUpdate(string Text, string? FinishReason, (int Prompt, int Completion)? Usage);

/// <summary>
/// One remote model called through the official OpenAI SDK. The SDK's own retries and network timeout are switched off
/// because the chain's Polly pipeline owns both (two retry layers would multiply attempts and hide Retry-After).
/// Failures come out as <see cref="UpstreamException"/> (with the HTTP status and Retry-After) or, when no response
/// arrived, as the <see cref="HttpRequestException"/>/<see cref="IOException"/> underneath, so the chain can tell a
/// rate limit from an outage from a request that will never succeed. Safe for concurrent requests.
/// </summary>
public sealed class OpenAiRemote
{
    private readonly ChatClient client;
    private readonly TimeProvider timeProvider;

    /// <param name="http">Shared by every remote; its own Timeout still applies to each request, so leave it long (or infinite).</param>
    public OpenAiRemote(RemoteEndpoint endpoint, HttpClient http, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(http);
        endpoint.Validate();
        Endpoint = endpoint;
        this.timeProvider = timeProvider ?? TimeProvider.System;
        client = new ChatClient(
            endpoint.Model,
            // Local OpenAI-compatible servers need no key, but the SDK insists on a credential; they ignore this one.
            new ApiKeyCredential(endpoint.ApiKey ?? "none"),
            new OpenAIClientOptions
            {
                Endpoint = endpoint.ApiBase,
                Transport = new HttpClientPipelineTransport(http),
                RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
                NetworkTimeout = Timeout.InfiniteTimeSpan,
            });
    }

    public RemoteEndpoint Endpoint { get; }

    public string Name => Endpoint.Name;

    /// <summary>
    /// Streams the completion. The request is sent when enumeration starts; a Retry-After is read relative to this
    /// remote's clock. A stream that ends without a finish reason was cut off and throws
    /// (<see cref="UpstreamFailure.Malformed"/>): the SDK itself ends such a stream quietly.
    /// </summary>
    /// <exception cref="ArgumentException">The request is invalid (see <see cref="RemoteChatRequest.Validate"/>).</exception>
    public async IAsyncEnumerable<RemoteUpdate> StreamAsync(RemoteChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var updates = client.CompleteChatStreamingAsync(Messages(request), Options(request), cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (updates.ConfigureAwait(false))
        {
            var finished = false;
            while (true)
            {
                // C# cannot yield inside a try with a catch, so each step is awaited here and translated, then yielded below.
                try
                {
                    if (!await updates.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }
                }
                catch (ClientResultException ex)
                {
                    throw Translate(ex);
                }
                catch (JsonException ex)
                {
                    throw new UpstreamException(Name, UpstreamFailure.Malformed, null, null, "the stream was not valid JSON: " + ex.Message);
                }

                if (Update(updates.Current) is { } update)
                {
                    finished |= update.FinishReason is not null;
                    yield return update;
                }
            }

            // The SDK ends quietly when the connection closes before [DONE]; every OpenAI-compatible server sends a
            // finish reason before closing, so its absence is how a cut-off answer shows.
            if (!finished)
            {
                throw new UpstreamException(Name, UpstreamFailure.Malformed, null, null, "the stream ended without a finish reason (connection closed mid-answer)");
            }
        }
    }

    private static RemoteUpdate? Update(StreamingChatCompletionUpdate update)
    {
        var content = update.ContentUpdate;
        var text = content.Count switch
        {
            0 => string.Empty,
            1 => content[0].Text ?? string.Empty,
            _ => string.Concat(content.Select(part => part.Text)),
        };

        var finish = update.FinishReason switch
        {
            null => null,
            ChatFinishReason.Stop => "stop",
            ChatFinishReason.Length => "length",
            ChatFinishReason.ContentFilter => "content_filter",
            ChatFinishReason.ToolCalls => "tool_calls",
            ChatFinishReason.FunctionCall => "function_call",
            var other => other.ToString(),
        };
        (int, int)? usage = update.Usage is { } u ? (u.InputTokenCount, u.OutputTokenCount) : null;
        return text.Length == 0 && finish is null && usage is null ? null : new RemoteUpdate(text, finish, usage);
    }

    /// <summary>Status 0 means no response arrived: the network failure underneath is what the chain should see.</summary>
    private Exception Translate(ClientResultException ex)
    {
        if (ex.Status == 0)
        {
            if (ex.InnerException is HttpRequestException or IOException)
            {
                ExceptionDispatchInfo.Throw(ex.InnerException);
            }

            return new HttpRequestException($"{Name}: no response: {ex.Message}", ex);
        }

        var failure = ex.Status switch
        {
            429 => UpstreamFailure.RateLimited,
            503 or 529 => UpstreamFailure.Overloaded,
            >= 500 => UpstreamFailure.ServerError,
            _ => UpstreamFailure.Rejected,
        };
        var response = ex.GetRawResponse();
        var retryAfter = response is not null && response.Headers.TryGetValue("Retry-After", out var header)
            ? ParseRetryAfter(header, timeProvider.GetUtcNow())
            : null;
        var message = ex.Message.Length > 300 ? ex.Message[..300] : ex.Message;
        return new UpstreamException(Name, failure, ex.Status, retryAfter, message);
    }

    /// <summary>Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3); a date in the past means now.</summary>
    internal static TimeSpan? ParseRetryAfter(string? value, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        value = value.Trim();
        if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return TimeSpan.FromSeconds(Math.Min(seconds, (long)TimeSpan.MaxValue.TotalSeconds - 1));
        }

        if (DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
        {
            var wait = date - now;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    private static List<ChatMessage> Messages(RemoteChatRequest request)
    {
        var messages = new List<ChatMessage>(request.Messages.Count);
        foreach (var turn in request.Messages)
        {
            messages.Add(turn.Role.ToUpperInvariant() switch
            {
                // "developer" is OpenAI's newer name for system; OpenAI-compatible servers only know the older one.
                "SYSTEM" or "DEVELOPER" => new SystemChatMessage(turn.Content),
                "USER" => new UserChatMessage(turn.Content),
                "ASSISTANT" => new AssistantChatMessage(turn.Content),
                // Validate() has already refused every other role.
                _ => throw new ArgumentException($"Unsupported chat role '{turn.Role}'.", nameof(request)),
            });
        }

        return messages;
    }

    private static ChatCompletionOptions Options(RemoteChatRequest request)
    {
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = request.MaxTokens,
            Temperature = request.Temperature,
            TopP = request.TopP,
            EndUserId = request.User,
        };
#pragma warning disable OPENAI001 // Seed is marked experimental by the SDK, but OpenAI-compatible servers (llama.cpp, vLLM) honour it.
        options.Seed = request.Seed;
#pragma warning restore OPENAI001
        foreach (var stop in request.Stop)
        {
            options.StopSequences.Add(stop);
        }

        return options;
    }
}
