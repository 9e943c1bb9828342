using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using ModelRouter.Protocol;

namespace ModelRouter.Client.AI;

/// <summary>
/// <see cref="IChatClient"/> over a <see cref="ModelRouterClient"/>: each call is one chat frame on the shared
/// connection. Messages map to chat messages by role (system, user, assistant, tool) and text; <see cref="ChatOptions"/>
/// map to sampling fields, and the <see cref="ModelRouterAIProperties"/> keys of its <c>AdditionalProperties</c> to
/// routing hints. No model (neither <see cref="ChatOptions.ModelId"/> nor a default) means "route for me".
/// </summary>
public sealed class ModelRouterChatClient : IChatClient, IAsyncDisposable
{
    /// <summary>The protocol's sampling defaults, for options a call leaves unset.</summary>
    private static readonly ChatGenerateRequest Defaults = new() { Messages = [] };

    private readonly ModelRouterClient router;
    private readonly bool ownsRouter;
    private readonly ChatClientMetadata metadata;

    /// <param name="router">The connection; shared, and disposed with this client only when <paramref name="ownsRouter"/>.</param>
    /// <param name="defaultModel">The model when a call names none; null lets the router choose.</param>
    /// <param name="ownsRouter">Dispose <paramref name="router"/> with this client.</param>
    public ModelRouterChatClient(ModelRouterClient router, string? defaultModel = null, bool ownsRouter = false)
    {
        ArgumentNullException.ThrowIfNull(router);
        this.router = router;
        this.ownsRouter = ownsRouter;
        DefaultModel = string.IsNullOrEmpty(defaultModel) ? null : defaultModel;
        metadata = new ChatClientMetadata(ModelRouterAIProperties.ProviderName, ModelRouterAIProperties.EndpointUri(router.RemoteEndPoint), DefaultModel);
    }

    /// <summary>The model used when <see cref="ChatOptions.ModelId"/> is null; null means "route for me".</summary>
    public string? DefaultModel { get; }

    /// <summary>The underlying connection.</summary>
    public ModelRouterClient Router => router;

    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = ToRequest(messages, options);
        var result = await router.CompleteChatAsync(request, cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text))
        {
            ModelId = result.Model,
            FinishReason = ModelRouterAIProperties.MapFinishReason(result.FinishReason),
            Usage = ModelRouterAIProperties.Usage(result.Stats),
            AdditionalProperties = ModelRouterAIProperties.FromResult(result),
            CreatedAt = DateTimeOffset.UtcNow,
            RawRepresentation = result,
        };
    }

    /// <summary>
    /// Text updates as the server streams them; the last update carries the model that served, the finish reason, the
    /// usage (as <see cref="UsageContent"/>) and the statistics. Leaving the enumeration early cancels the request.
    /// </summary>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = ToRequest(messages, options);
        await foreach (var chunk in router.ChatAsync(request, cancellationToken).ConfigureAwait(false))
        {
            if (chunk.Result is not { } result)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, chunk.Text) { RawRepresentation = chunk };
                continue;
            }

            yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(ModelRouterAIProperties.Usage(result.Stats))])
            {
                ModelId = result.Model,
                FinishReason = ModelRouterAIProperties.MapFinishReason(result.FinishReason),
                AdditionalProperties = ModelRouterAIProperties.FromResult(result),
                CreatedAt = DateTimeOffset.UtcNow,
                RawRepresentation = result,
            };
        }
    }

    /// <summary><see cref="ChatClientMetadata"/>, this client, or the underlying <see cref="ModelRouterClient"/>.</summary>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(ChatClientMetadata))
        {
            return metadata;
        }

        if (serviceType == typeof(ModelRouterClient))
        {
            return router;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>
    /// The chat frame for these messages and options (exposed for tests and for callers that want the wire request).
    /// </summary>
    /// <exception cref="ArgumentException">A role other than system, user, assistant or tool, or a malformed routing hint.</exception>
    public ChatGenerateRequest ToRequest(IEnumerable<ChatMessage> messages, ChatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var wire = new List<ChatRequestMessage>();
        if (!string.IsNullOrEmpty(options?.Instructions))
        {
            wire.Add(new ChatRequestMessage(ChatRoles.System, options.Instructions));
        }

        foreach (var message in messages)
        {
            ArgumentNullException.ThrowIfNull(message, nameof(messages));
            wire.Add(new ChatRequestMessage(MapRole(message.Role), TextOf(message)));
        }

        var properties = options?.AdditionalProperties;
        var model = options?.ModelId is { Length: > 0 } named ? named : DefaultModel;
        return new ChatGenerateRequest
        {
            Model = model,
            Messages = wire,
            MaxTokens = options?.MaxOutputTokens ?? 0,
            Temperature = options?.Temperature ?? Defaults.Temperature,
            TopP = options?.TopP ?? Defaults.TopP,
            TopK = options?.TopK ?? 0,
            Seed = options?.Seed is { } seed ? unchecked((ulong)seed) : 0,
            StopSequences = options?.StopSequences is { Count: > 0 } stops ? [.. stops] : [],
            LatencyClass = ModelRouterAIProperties.GetLatencyClass(properties),
            RequiredCapability = ModelRouterAIProperties.GetString(properties, ModelRouterAIProperties.Capability),
            CostBudget = ModelRouterAIProperties.GetCost(properties),
            OutputFormat = options?.ResponseFormat switch
            {
                ChatResponseFormatJson { Schema: not null } => OutputFormat.JsonSchema,
                ChatResponseFormatJson => OutputFormat.JsonObject,
                _ => OutputFormat.Text,
            },
            OutputSpec = options?.ResponseFormat is ChatResponseFormatJson { Schema: { } schema } ? schema.GetRawText() : null,
        };
    }

    public void Dispose()
    {
        if (ownsRouter)
        {
            router.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    public ValueTask DisposeAsync() => ownsRouter ? router.DisposeAsync() : default;

    private static string MapRole(ChatRole role)
    {
        if (role == ChatRole.User)
        {
            return ChatRoles.User;
        }

        if (role == ChatRole.Assistant)
        {
            return ChatRoles.Assistant;
        }

        if (role == ChatRole.System)
        {
            return ChatRoles.System;
        }

        if (role == ChatRole.Tool)
        {
            return ChatRoles.Tool;
        }

        throw new ArgumentException($"the role '{role}' has no counterpart in the chat frame (system, user, assistant, tool)");
    }

    /// <summary>The message's text; a tool result without text contributes its result as text.</summary>
    private static string TextOf(ChatMessage message)
    {
        var text = message.Text;
        if (text.Length > 0 || message.Role != ChatRole.Tool)
        {
            return text;
        }

        var results = new StringBuilder();
        foreach (var content in message.Contents)
        {
            if (content is FunctionResultContent { Result: { } result })
            {
                results.Append(result as string ?? result.ToString());
            }
        }

        return results.ToString();
    }
}
