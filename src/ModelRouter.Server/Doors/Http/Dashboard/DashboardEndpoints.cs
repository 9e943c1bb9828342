using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Http.Dashboard;

/// <summary>
/// The live dashboard: three static files embedded in this assembly (served at <c>/</c> and <c>/dashboard/*</c>
/// without a token: they hold no data and fetch everything with the token the user gives them), the state as JSON
/// (<c>GET /dashboard/api/state</c>, for polling) and as server-sent events (<c>GET /dashboard/api/events</c>), both
/// behind the API's bearer token. A sampler records each model's queue once a second while the door runs.
/// </summary>
internal static class DashboardEndpoints
{
    /// <summary>Only our own files and our own API: no CDN, no inline script, nothing the page could be framed by.</summary>
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(1);

    /// <summary>A live view still gets a state this often when nothing changed (keeps proxies from closing it).</summary>
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(5);

    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    public static void Map(WebApplication web, RequestPipeline pipeline, Func<HttpContext, RequestCaller> caller)
    {
        var index = Resource("index.html");
        var css = Resource("app.css");
        var script = Resource("app.js");
        web.MapGet("/", context => StaticAsync(context, index, "text/html; charset=utf-8"));
        web.MapGet("/dashboard/app.css", context => StaticAsync(context, css, "text/css; charset=utf-8"));
        web.MapGet("/dashboard/app.js", context => StaticAsync(context, script, "text/javascript; charset=utf-8"));
        web.MapGet("/dashboard/api/state", context => StateAsync(context, pipeline, caller(context).IsAdmin));
        web.MapGet("/dashboard/api/events", context => EventsAsync(context, pipeline, caller(context).IsAdmin, web.Lifetime.ApplicationStopping));
        _ = SampleAsync(pipeline, web.Lifetime.ApplicationStopping);
    }

    /// <summary>The embedded file's bytes (the csproj embeds Dashboard/*.{html,css,js} under these names).</summary>
    internal static byte[] Resource(string name)
    {
        using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("ModelRouter.Server.Dashboard." + name)
            ?? throw new InvalidOperationException($"the dashboard file '{name}' is not embedded in {typeof(DashboardEndpoints).Assembly.GetName().Name}");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static async Task StaticAsync(HttpContext context, byte[] body, string contentType)
    {
        var headers = context.Response.Headers;
        headers.ContentType = contentType;
        headers.CacheControl = "no-cache";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task StateAsync(HttpContext context, RequestPipeline pipeline, bool admin)
    {
        var cursor = DashboardCursor.Parse(context.Request.Query);
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, HttpBodies.WriterOptions))
        {
            new DashboardState(pipeline, admin).Write(json, ref cursor);
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// One <c>data: {state}</c> event at once, then one for every change (a swap, a decision, a queue sample) with
    /// only what is new, until the client leaves or the server stops (a live view must not hold up the drain).
    /// </summary>
    private static async Task EventsAsync(HttpContext context, RequestPipeline pipeline, bool admin, CancellationToken doorStopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, doorStopping, pipeline.Stopping);
        var token = linked.Token;
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        var state = new DashboardState(pipeline, admin);
        var cursor = DashboardCursor.Parse(context.Request.Query);
        var writer = response.BodyWriter;
        await using var json = new Utf8JsonWriter(writer, HttpBodies.WriterOptions);
        try
        {
            while (!token.IsCancellationRequested && !pipeline.IsDraining)
            {
                var changed = pipeline.Events.Changed; // before reading: what is recorded meanwhile wakes the next turn
                writer.Write(DataPrefix);
                json.Reset(writer);
                state.Write(json, ref cursor);
                json.Flush();
                writer.Write(EventEnd);
                var flushed = await writer.FlushAsync(token).ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    return;
                }

                await Task.WhenAny(changed, Task.Delay(Heartbeat, token)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The client left or the server stops: the stream just ends.
        }
    }

    /// <summary>Each model's queued and running requests once a second, for the queue chart's last five minutes.</summary>
    private static async Task SampleAsync(RequestPipeline pipeline, CancellationToken stopping)
    {
        try
        {
            using var timer = new PeriodicTimer(SampleInterval);
            do
            {
                if (pipeline.IsStarted)
                {
                    pipeline.Events.Sample(pipeline.ListModels());
                }
            }
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (ObjectDisposedException)
        {
            // The pool went away with the host: nothing left to sample.
        }
    }
}
