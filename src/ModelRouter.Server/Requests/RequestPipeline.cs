using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>
/// The one request path behind every door. A door authenticates with <see cref="Authenticate"/>, translates its
/// wire into a command and calls one method here; everything a request can be refused for (limits, shutdown,
/// unknown models, missing chat templates), how it is routed (classifier and policy, then the route's remote chain,
/// then the local model through the scheduler), and what it reports (route decision, text, done with statistics, a
/// typed error) lives here once. Doors decide nothing.
/// </summary>
public sealed partial class RequestPipeline : IDisposable
{
    private readonly ModelRouterService service;
    private readonly IRequestRouter router;
    private readonly RemoteRoutes remotes;
    private readonly ChatTemplates templates;
    private readonly IRequestForwarder? forwarder;
    private readonly byte[]? authToken;
    private readonly byte[]? adminToken;
    private readonly CancellationToken stopping;
    private readonly ShutdownReport report;
    private long nextRequestId;
    private int inFlight;
    private long requestsTotal;
    private long tokensGenerated;
    private long errorsTotal;
    private int connections;

    public RequestPipeline(IOptions<ServerOptions> options, ModelRouterService service, IRequestRouter router, ServerMetrics metrics,
        ILogger<RequestPipeline> logger, ShutdownReport? report = null, IHostApplicationLifetime? lifetime = null, IRequestForwarder? forwarder = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(router);
        Options = options.Value;
        this.service = service;
        this.router = router;
        this.forwarder = forwarder;
        Metrics = metrics;
        Logger = logger;
        this.report = report ?? new ShutdownReport();
        stopping = lifetime?.ApplicationStopping ?? CancellationToken.None;
        authToken = string.IsNullOrEmpty(Options.AuthToken) ? null : Encoding.UTF8.GetBytes(Options.AuthToken);
        adminToken = string.IsNullOrEmpty(Options.AdminToken) ? null : Encoding.UTF8.GetBytes(Options.AdminToken);
        Catalog = Options.Models.ToDictionary(m => m.Name, StringComparer.Ordinal);
        DefaultModel = Options.DefaultModel is { Length: > 0 } d ? d : Options.Models.Count > 0 ? Options.Models[0].Name : "";
        DefaultEmbeddingModel = Options.EmbeddingModel is { Length: > 0 } e ? e
            : Options.Models.FirstOrDefault(m => m.Capabilities.Contains("embeddings", StringComparer.OrdinalIgnoreCase))?.Name ?? DefaultModel;
        remotes = new RemoteRoutes(Options);
        templates = new ChatTemplates(Catalog, logger);
        service.Pool.Swapped += Events.OnSwapped;
    }

    public ServerOptions Options { get; }

    /// <summary>This node's name in its cluster (the serving node in done statistics); empty outside a cluster.</summary>
    public string LocalNode => forwarder?.LocalNode ?? "";

    public ServerMetrics Metrics { get; }

    public ILogger Logger { get; }

    /// <summary>Recent swaps, routing decisions and queue samples, for the dashboard.</summary>
    public ServerEvents Events { get; } = new();

    public IReadOnlyDictionary<string, CatalogModelOptions> Catalog { get; }

    /// <summary>Serves requests the classifier is unsure of.</summary>
    public string DefaultModel { get; }

    /// <summary>Embeds when a request names no model.</summary>
    public string DefaultEmbeddingModel { get; }

    public long StartTimestamp { get; } = Stopwatch.GetTimestamp();

    /// <summary>The catalog is registered and the scheduler runs: requests can be served.</summary>
    public bool IsStarted => service.Scheduler is not null;

    /// <summary>The host is stopping: requests in flight finish, new ones are refused.</summary>
    public bool IsDraining => Volatile.Read(ref draining) != 0 || stopping.IsCancellationRequested;

    /// <summary>Cancelled when the host starts stopping.</summary>
    public CancellationToken Stopping => stopping;

    public int RequestsInFlight => Volatile.Read(ref inFlight);

    private ModelPool Pool => service.Pool;

    private Scheduler Scheduler => service.Scheduler ?? throw new RequestException(RequestError.ShuttingDown, "the server has not started yet");

    /// <summary>
    /// Who a token belongs to (compared in constant time): the admin token makes an admin, the auth token (or none
    /// configured) a client; null when neither matches.
    /// </summary>
    public RequestCaller? Authenticate(ReadOnlySpan<byte> token)
    {
        var isAdmin = adminToken is { } admin && CryptographicOperations.FixedTimeEquals(token, admin);
        return isAdmin || authToken is null || CryptographicOperations.FixedTimeEquals(token, authToken) ? new RequestCaller(isAdmin) : null;
    }

    /// <summary>A socket connection opened or closed (for the stats).</summary>
    public void ConnectionOpened() => Interlocked.Increment(ref connections);

    public void ConnectionClosed() => Interlocked.Decrement(ref connections);

    /// <summary>
    /// Routes a prompt without generating. Completes synchronously unless the cascade's LLM judge is asked; then the
    /// caller's thread is free while it answers.
    /// </summary>
    /// <exception cref="RequestException">The prompt is too long, or no model can serve it under its hints.</exception>
    public ValueTask<RouteOutcome> RouteAsync(string prompt, RouteHints hints, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        CheckPromptBytes(Encoding.UTF8.GetByteCount(prompt));
        var pending = DecideAsync(prompt, hints ?? RouteHints.None, cancellation);
        return pending.IsCompletedSuccessfully ? new ValueTask<RouteOutcome>(Describe(pending.Result)) : DescribeLater(pending);

        async ValueTask<RouteOutcome> DescribeLater(ValueTask<RouteResult> decision) => Describe(await decision.ConfigureAwait(false));
    }

    /// <summary>The router's decision; the judge (when asked) is awaited, not waited for.</summary>
    /// <exception cref="RequestException">No model can serve it under its hints.</exception>
    private ValueTask<RouteResult> DecideAsync(string text, RouteHints hints, CancellationToken cancellation)
    {
        ValueTask<RouteResult> pending;
        try
        {
            pending = router.RouteAsync(text, hints, cancellation);
        }
        catch (ArgumentException ex)
        {
            throw new RequestException(RequestError.NoRouteMatched, ex.Message);
        }

        if (pending.IsCompletedSuccessfully)
        {
            Metrics.RecordRoute(pending.Result.Elapsed);
            return pending;
        }

        return Completed(pending);

        async ValueTask<RouteResult> Completed(ValueTask<RouteResult> decision)
        {
            RouteResult result;
            try
            {
                result = await decision.ConfigureAwait(false);
            }
            catch (ArgumentException ex)
            {
                throw new RequestException(RequestError.NoRouteMatched, ex.Message);
            }

            Metrics.RecordRoute(result.Elapsed);
            return result;
        }
    }

    private RouteOutcome Describe(RouteResult decision)
    {
        Pool.TryGetStatus(decision.Model, out var status);
        return new RouteOutcome(decision.Model, decision.Task, decision.Confidence, decision.Unsure, decision.Explain(), TierOf(status),
            decision.Elapsed, decision.Considered.Where(m => m != decision.Model).ToList())
        {
            Stage = decision.Stage,
        };
    }

    internal ulong NextRequestId() => (ulong)Interlocked.Increment(ref nextRequestId);

    private void CheckPromptBytes(int bytes)
    {
        if (bytes > Options.Limits.MaxPromptBytes)
        {
            throw new RequestException(RequestError.PromptTooLong, $"the prompt is {bytes} bytes; the limit is {Options.Limits.MaxPromptBytes}");
        }
    }

    private void CheckModel(string model)
    {
        if (!Catalog.ContainsKey(model))
        {
            throw new RequestException(RequestError.UnknownModel,
                $"no model named '{model}' (models: {string.Join(", ", Catalog.Keys.Order(StringComparer.Ordinal))})");
        }
    }

    internal static ModelTierView TierOf(ModelStatus? status) => status?.Tier switch
    {
        ModelTier.Resident => ModelTierView.Device,
        ModelTier.Warm => ModelTierView.Host,
        ModelTier.Cold => ModelTierView.Disk,
        _ => ModelTierView.Unknown,
    };

    internal static ModelStateView StateOf(ModelStatus? status) => status?.State switch
    {
        ModelState.Resident => ModelStateView.Ready,
        ModelState.Restoring => ModelStateView.SwappingIn,
        ModelState.Evicting => ModelStateView.SwappingOut,
        ModelState.Failed => ModelStateView.Failed,
        _ => ModelStateView.Unloaded,
    };

    public void Dispose()
    {
        remotes.Dispose();
        templates.Dispose();
        cutOff.Dispose();
        drainDeadline?.Dispose();
    }
}
