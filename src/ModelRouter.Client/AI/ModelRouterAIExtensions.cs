using Microsoft.Extensions.AI;

namespace ModelRouter.Client.AI;

/// <summary>One-line adapters from a <see cref="ModelRouterClient"/> to the Microsoft.Extensions.AI abstractions.</summary>
public static class ModelRouterAIExtensions
{
    /// <summary>
    /// An <see cref="IChatClient"/> over this connection (which it does not dispose). Without a
    /// <paramref name="defaultModel"/> (and no <see cref="ChatOptions.ModelId"/> on a call) the router picks the model.
    /// </summary>
    public static IChatClient AsChatClient(this ModelRouterClient router, string? defaultModel = null) =>
        new ModelRouterChatClient(router, defaultModel);

    /// <summary>
    /// An <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over this connection (which it does not dispose). Without a
    /// <paramref name="defaultModel"/> the server's default embedding model is used.
    /// </summary>
    public static IEmbeddingGenerator<string, Embedding<float>> AsEmbeddingGenerator(this ModelRouterClient router, string? defaultModel = null) =>
        new ModelRouterEmbeddingGenerator(router, defaultModel);
}
