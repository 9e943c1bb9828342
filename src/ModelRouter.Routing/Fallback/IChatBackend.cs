namespace ModelRouter.Routing.Fallback;

/// <summary>Something that completes a prompt as a stream of text: a local model or a remote endpoint.</summary>
public interface IChatBackend
{
    string Name { get; }

    /// <summary>True for models served in this process (the last member of every chain must be one).</summary>
    bool IsLocal { get; }

    /// <summary>
    /// Streams the completion. Failures are thrown as <see cref="UpstreamException"/> (with their kind) or as
    /// <see cref="HttpRequestException"/>/<see cref="IOException"/> for broken connections.
    /// </summary>
    IAsyncEnumerable<string> StreamAsync(ChatRequest request, CancellationToken cancellationToken);
}
