using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Connections;

/// <summary>What every connection shares: options, limits, tokens, router, fallback chains, scheduler, pool, metrics and counters.</summary>
public sealed class ServerContext
{
    private long requestsTotal;
    private long tokensGenerated;
    private long errorsTotal;
    private int connections;

    public ServerContext(ServerOptions options, ModelRouterService service, IRequestRouter router, ServerMetrics metrics, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(service);
        Options = options;
        Service = service;
        Router = router;
        Metrics = metrics;
        Logger = logger;
        Limits = new ProtocolLimits
        {
            MaxPayloadBytes = options.Limits.MaxFrameBytes,
            MaxPromptBytes = options.Limits.MaxPromptBytes,
            MaxTokens = options.Limits.MaxTokens,
            MaxRequestsInFlight = options.Limits.MaxRequestsInFlightPerConnection,
        };
        AuthToken = string.IsNullOrEmpty(options.AuthToken) ? null : Encoding.UTF8.GetBytes(options.AuthToken);
        AdminToken = string.IsNullOrEmpty(options.AdminToken) ? null : Encoding.UTF8.GetBytes(options.AdminToken);
        Catalog = options.Models.ToDictionary(m => m.Name, StringComparer.Ordinal);
        Chains = new RouteChains(options, () => service.Scheduler ?? throw new InvalidOperationException("The server has not started."));
    }

    public ServerOptions Options { get; }

    public ModelRouterService Service { get; }

    public Scheduler Scheduler => Service.Scheduler;

    public ModelPool Pool => Service.Pool;

    public IRequestRouter Router { get; }

    /// <summary>The fallback chains of the routes that list remote endpoints (owned: disposed with the listener).</summary>
    public RouteChains Chains { get; }

    public ServerMetrics Metrics { get; }

    public ILogger Logger { get; }

    public ProtocolLimits Limits { get; }

    public byte[]? AuthToken { get; }

    public byte[]? AdminToken { get; }

    public IReadOnlyDictionary<string, CatalogModelOptions> Catalog { get; }

    public long StartTimestamp { get; } = Stopwatch.GetTimestamp();

    /// <summary>Set when the host stops: connections answer new requests with ShuttingDown.</summary>
    public CancellationToken Stopping { get; set; }

    public int Connections => Volatile.Read(ref connections);

    public long RequestsTotal => Interlocked.Read(ref requestsTotal);

    public long TokensGenerated => Interlocked.Read(ref tokensGenerated);

    public long ErrorsTotal => Interlocked.Read(ref errorsTotal);

    internal void ConnectionOpened() => Interlocked.Increment(ref connections);

    internal void ConnectionClosed() => Interlocked.Decrement(ref connections);

    internal void RequestFinished(int tokens)
    {
        Interlocked.Increment(ref requestsTotal);
        Interlocked.Add(ref tokensGenerated, tokens);
    }

    internal void RequestFailed() => Interlocked.Increment(ref errorsTotal);
}
