using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;
using OpenTelemetry.Metrics;

namespace ModelRouter.Server.Doors.Http;

/// <summary>
/// The OpenAI-compatible HTTP door: Kestrel with minimal APIs in the server's host, bound from ModelRouter:Http.
/// It authenticates (bearer token, constant time, the socket's tokens), translates JSON/SSE to the request pipeline
/// and back, and serves /health, /ready and Prometheus /metrics. On stop Kestrel stops accepting and lets the
/// requests in flight finish (the pipeline refuses new ones with 503 once draining).
/// </summary>
public sealed class HttpDoorService(IOptions<ServerOptions> options, RequestPipeline pipeline, ILoggerFactory loggers) : IHostedService, IAsyncDisposable
{
    private const string CallerKey = "modelrouter.caller";
    private readonly ServerOptions options = options.Value;
    private readonly ILogger logger = loggers.CreateLogger<HttpDoorService>();
    private WebApplication? app;

    /// <summary>The bound address (port 0 in the options picks a free one); null when the door is off.</summary>
    public Uri? Address { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Http))
        {
            return;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        builder.WebHost.UseUrls(options.Http);

        // Socket continuations run inline on the I/O thread instead of hopping to Kestrel's queue: our handlers never
        // block (they parse, hand the request to the pipeline and await its results), so the hop only added latency.
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.Limits.MaxHttpBodyBytes;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromMilliseconds(options.Limits.HandshakeTimeoutMs);
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(options.Limits.IdleTimeoutSeconds);
            kestrel.Limits.MaxConcurrentConnections = options.Limits.MaxConnections;
            kestrel.Limits.MaxConcurrentUpgradedConnections = 0;
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(options.Limits.MinFrameBytesPerSecond, TimeSpan.FromMilliseconds(options.Limits.FrameGracePeriodMs));
        });
        // "System.Runtime": .NET's built-in runtime meter (GC heap, collections, threads, exceptions), for leak hunting.
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(ServerMetrics.MeterName, "System.Runtime").AddPrometheusExporter());

        app = builder.Build();
        app.Use(AuthenticateAsync);
        Map(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? options.Http;
        Address = new Uri(bound);
        ServerLog.Listening(logger, bound);
    }

    /// <summary>
    /// Kestrel stops accepting while the pipeline drains: requests in flight (both doors) finish until the shutdown
    /// deadline, then what is left ends with a 503 or a final SSE error event; only then are connections closed.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var drained = pipeline.DrainAsync(cancellationToken);
        if (app is not null)
        {
            var stopped = app.StopAsync(cancellationToken);
            await drained.ConfigureAwait(false);
            await stopped.ConfigureAwait(false);
        }
        else
        {
            await drained.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Map(WebApplication web)
    {
        web.MapPost("/v1/chat/completions", context => GenerationEndpoints.ChatAsync(context, pipeline));
        web.MapPost("/v1/completions", context => GenerationEndpoints.CompletionAsync(context, pipeline));
        web.MapPost("/v1/embeddings", context => EmbeddingEndpoints.EmbedAsync(context, pipeline));
        web.MapGet("/v1/models", context => ModelEndpoints.ListAsync(context, pipeline));
        web.MapGet("/v1/models/{name}", (HttpContext context, string name) => ModelEndpoints.GetAsync(context, pipeline, name));
        web.MapGet("/admin/models", context => RequireAdmin(context) ?? ModelEndpoints.AdminListAsync(context, pipeline));
        web.MapPost("/admin/models/{name}/{operation}", (HttpContext context, string name, string operation) =>
            RequireAdmin(context) ?? ModelEndpoints.AdminAsync(context, pipeline, Caller(context), name, operation));
        web.MapGet("/health", context => Status(context, 200, "alive"));
        web.MapGet("/ready", context => pipeline.IsDraining ? Status(context, 503, "draining")
            : pipeline.IsStarted ? Status(context, 200, "ready") : Status(context, 503, "starting"));
        web.MapPrometheusScrapingEndpoint("/metrics");
        Dashboard.DashboardEndpoints.Map(web, pipeline, Caller);
        web.MapFallback(context => HttpErrors.WriteAsync(context, 404, "not_found", $"no endpoint {context.Request.Method} {context.Request.Path}"));
    }

    /// <summary>
    /// Every /v1, /admin and /dashboard/api request needs "Authorization: Bearer TOKEN" (one of the socket door's tokens,
    /// compared in constant time) unless no token is configured; /health, /ready, /metrics and the dashboard's static
    /// files are open (probes expect it; the page holds no data and asks for the token itself).
    /// </summary>
    private Task AuthenticateAsync(HttpContext context, RequestDelegate next)
    {
        var path = context.Request.Path;
        if (!path.StartsWithSegments("/v1") && !path.StartsWithSegments("/admin") && !path.StartsWithSegments("/dashboard/api"))
        {
            return next(context);
        }

        var header = context.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
        if (pipeline.Authenticate(Encoding.UTF8.GetBytes(token)) is not { } caller)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return HttpErrors.WriteAsync(context, 401, "invalid_api_key",
                header.Length == 0 ? "missing Authorization: Bearer token" : "the bearer token is not valid for this server");
        }

        context.Items[CallerKey] = caller;
        return next(context);
    }

    private static RequestCaller Caller(HttpContext context) => context.Items[CallerKey] is RequestCaller caller ? caller : default;

    private static Task? RequireAdmin(HttpContext context) =>
        Caller(context).IsAdmin ? null : HttpErrors.WriteAsync(context, 403, "admin_required", "admin endpoints need the admin token");

    private static async Task Status(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($"{{\"status\":\"{text}\"}}", context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Parses a Kestrel URL (the wildcards * and + read as 0.0.0.0); false when it is not http(s).</summary>
    public static bool TryParseUrl(string url, out Uri uri)
    {
        ArgumentNullException.ThrowIfNull(url);
        var normalized = url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        return Uri.TryCreate(normalized, UriKind.Absolute, out uri!) && uri.Scheme is "http" or "https";
    }

    /// <summary>True when <paramref name="url"/> binds only loopback addresses (localhost, 127.0.0.0/8, ::1).</summary>
    public static bool IsLoopback(string url) =>
        TryParseUrl(url, out var uri) && (uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address)));
}
