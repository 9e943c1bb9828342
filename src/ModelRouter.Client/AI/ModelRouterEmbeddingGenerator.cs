using Microsoft.Extensions.AI;
using ModelRouter.Protocol;

namespace ModelRouter.Client.AI;

/// <summary>
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a <see cref="ModelRouterClient"/>. The embed frame takes
/// one text, so each input is one request; they are sent together (multiplexed on the connection, which bounds how
/// many are in flight) and come back in input order. The model is <see cref="EmbeddingGenerationOptions.ModelId"/>, else
/// the default given here, else the server's default embedding model.
/// </summary>
public sealed class ModelRouterEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>, IAsyncDisposable
{
    private readonly ModelRouterClient router;
    private readonly bool ownsRouter;
    private readonly EmbeddingGeneratorMetadata metadata;

    /// <param name="router">The connection; shared, and disposed with this generator only when <paramref name="ownsRouter"/>.</param>
    /// <param name="defaultModel">The embedding model when a call names none; null means the server's default.</param>
    /// <param name="ownsRouter">Dispose <paramref name="router"/> with this generator.</param>
    public ModelRouterEmbeddingGenerator(ModelRouterClient router, string? defaultModel = null, bool ownsRouter = false)
    {
        ArgumentNullException.ThrowIfNull(router);
        this.router = router;
        this.ownsRouter = ownsRouter;
        DefaultModel = string.IsNullOrEmpty(defaultModel) ? null : defaultModel;
        metadata = new EmbeddingGeneratorMetadata(
            ModelRouterAIProperties.ProviderName, ModelRouterAIProperties.EndpointUri(router.RemoteEndPoint), DefaultModel);
    }

    /// <summary>The model used when <see cref="EmbeddingGenerationOptions.ModelId"/> is null; null means the server's default.</summary>
    public string? DefaultModel { get; }

    /// <summary>The underlying connection.</summary>
    public ModelRouterClient Router => router;

    /// <summary>
    /// One embedding per value, in order, with usage (input tokens summed). <see cref="EmbeddingGenerationOptions.Dimensions"/>
    /// is not a request (the model decides the size): a vector of another size fails with <see cref="NotSupportedException"/>.
    /// The <see cref="ModelRouterAIProperties.Normalize"/> option turns L2 normalisation off (it is on by default).
    /// </summary>
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var model = options?.ModelId is { Length: > 0 } named ? named : DefaultModel;
        var normalize = ModelRouterAIProperties.GetBool(options?.AdditionalProperties, ModelRouterAIProperties.Normalize, fallback: true);
        var requests = values.Select(text => router.EmbedAsync(new EmbedRequest { Text = text, Model = model, Normalize = normalize }, cancellationToken)).ToArray();
        var results = await Task.WhenAll(requests).ConfigureAwait(false);

        var embeddings = new GeneratedEmbeddings<Embedding<float>>(results.Length);
        long inputTokens = 0;
        var created = DateTimeOffset.UtcNow;
        foreach (var result in results)
        {
            if (options?.Dimensions is { } dimensions && dimensions != result.Vector.Length)
            {
                throw new NotSupportedException($"{result.Model} produces {result.Vector.Length} dimensions, not {dimensions}; ModelRouter does not resize vectors");
            }

            inputTokens += result.PromptTokens;
            embeddings.Add(new Embedding<float>(result.Vector) { ModelId = result.Model, CreatedAt = created });
        }

        embeddings.Usage = new UsageDetails { InputTokenCount = inputTokens, TotalTokenCount = inputTokens };
        return embeddings;
    }

    /// <summary><see cref="EmbeddingGeneratorMetadata"/>, this generator, or the underlying <see cref="ModelRouterClient"/>.</summary>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(EmbeddingGeneratorMetadata))
        {
            return metadata;
        }

        if (serviceType == typeof(ModelRouterClient))
        {
            return router;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        if (ownsRouter)
        {
            router.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    public ValueTask DisposeAsync() => ownsRouter ? router.DisposeAsync() : default;
}
