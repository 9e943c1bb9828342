using ModelRouter.Routing.Fallback;
using ModelRouter.Server.Options;

namespace ModelRouter.Server.Routing;

/// <summary>
/// The remote chain of every route that lists remotes: its OpenAI-compatible endpoints in order, each with its own
/// retry/breaker/timeout pipeline. Built once at start so each remote's circuit-breaker state (its cooldown) lives as
/// long as the server; the local model after the chain is the request pipeline's business. Owns the HTTP client the
/// remotes share.
/// </summary>
public sealed class RemoteRoutes : IDisposable
{
    private readonly HttpClient http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly Dictionary<string, RemoteChain> byTask = new(StringComparer.OrdinalIgnoreCase);

    public RemoteRoutes(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var remotes = options.Remotes.ToDictionary(r => r.Name, StringComparer.Ordinal);
        foreach (var route in options.Routes.Where(r => r.Remotes.Count > 0))
        {
            byTask[route.Task] = new RemoteChain(route.Remotes.Select(name => Endpoint(remotes[name])).ToList(), http);
        }
    }

    /// <summary>The chain of <paramref name="task"/>'s route, when that route lists remotes.</summary>
    public bool TryGet(string task, out RemoteChain chain) => byTask.TryGetValue(task, out chain!);

    public void Dispose() => http.Dispose();

    private static RemoteEndpoint Endpoint(RemoteOptions remote) => new(remote.Name, new Uri(remote.Endpoint), remote.Model)
    {
        ApiKey = remote.ApiKeyVariable is { Length: > 0 } variable ? Environment.GetEnvironmentVariable(variable) : null,
        AttemptTimeout = TimeSpan.FromMilliseconds(remote.TimeoutMs),
        Retries = remote.Retries,
        Cooldown = TimeSpan.FromSeconds(remote.CooldownSeconds),
    };
}
