using ModelRouter.Routing.Fallback;
using ModelRouter.Server.Options;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Routing;

/// <summary>
/// The fallback chain of every route that lists remotes: its remote endpoints in order, then the local model the
/// policy picks for each request. One chain per route, built at start, so each remote's retry and circuit-breaker
/// state (its cooldown) lives as long as the server. Owns the HTTP client the remotes share.
/// </summary>
public sealed class RouteChains : IDisposable
{
    /// <summary>
    /// The local member waits for its first token through queueing and a swap-in; the chain's per-attempt timeout is
    /// meant for remotes, so the local member's is the scheduler's business, not the chain's.
    /// </summary>
    private static readonly TimeSpan LocalFirstPieceLimit = TimeSpan.FromHours(1);

    private readonly HttpClient http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly Dictionary<string, FallbackChain> byTask = new(StringComparer.OrdinalIgnoreCase);

    /// <param name="scheduler">The scheduler, read per request (it exists only once the service has started).</param>
    public RouteChains(ServerOptions options, Func<Scheduler> scheduler)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(scheduler);
        var local = new FallbackMember(new SchedulerChatBackend(scheduler))
        {
            AttemptTimeout = LocalFirstPieceLimit,
            Retries = 0,
            // Never skip the local member: it is the chain's last resort, and its own refusals (overloaded) are
            // already immediate.
            BreakerMinimumThroughput = int.MaxValue,
        };
        var remotes = options.Remotes.ToDictionary(r => r.Name, StringComparer.Ordinal);
        foreach (var route in options.Routes.Where(r => r.Remotes.Count > 0))
        {
            var members = route.Remotes.Select(name => Member(remotes[name])).Append(local).ToList();
            byTask[route.Task] = new FallbackChain(members);
        }
    }

    /// <summary>The chain of <paramref name="task"/>'s route, when that route lists remotes.</summary>
    public bool TryGet(string task, out FallbackChain chain) => byTask.TryGetValue(task, out chain!);

    public void Dispose() => http.Dispose();

    private FallbackMember Member(RemoteOptions remote)
    {
        var key = remote.ApiKeyVariable is { Length: > 0 } variable ? Environment.GetEnvironmentVariable(variable) : null;
        return new FallbackMember(new OpenAiCompatibleBackend(remote.Name, http, new Uri(remote.Endpoint), remote.Model, key))
        {
            AttemptTimeout = TimeSpan.FromMilliseconds(remote.TimeoutMs),
            Retries = remote.Retries,
            Cooldown = TimeSpan.FromSeconds(remote.CooldownSeconds),
        };
    }
}
