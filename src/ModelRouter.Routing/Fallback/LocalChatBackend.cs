namespace ModelRouter.Routing.Fallback;

/// <summary>
/// A model served by this process, given as a streaming delegate; a local member is what every chain ends with, so a
/// request is answered even when every remote fails. (The server's own local member submits to its scheduler.)
/// </summary>
public sealed class LocalChatBackend(string name, Func<ChatRequest, CancellationToken, IAsyncEnumerable<string>> stream) : IChatBackend
{
    public string Name { get; } = name;

    public bool IsLocal => true;

    public IAsyncEnumerable<string> StreamAsync(ChatRequest request, CancellationToken cancellationToken) => stream(request, cancellationToken);
}
