using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ModelRouter.Routing.Tests.Fallback;

/// <summary>What the fake upstream does for one request.</summary>
public enum UpstreamBehaviour
{
    Ok,
    ServerError,
    RateLimitedRetryNow,
    RateLimitedRetryLater,
    Overloaded,
    Hang,
    AbortMidStream,
    BadRequest,

    /// <summary>HTTP 429 with Retry-After: 1 (short enough to wait for).</summary>
    RateLimitedRetrySoon,

    /// <summary>HTTP 503 with Retry-After: 1.</summary>
    OverloadedRetrySoon,

    /// <summary>A well-formed stream that finishes without any text.</summary>
    Empty,
}

/// <summary>What the fake upstream received: the path, the Authorization header and the JSON body.</summary>
public sealed record FakeRequest(string Path, string? Authorization, string Body);

/// <summary>
/// A fake OpenAI-compatible server on 127.0.0.1 (HttpListener, an ephemeral port) that streams server-sent events
/// or fails the way it is told for each request, counting the requests it got and keeping what they carried. A healthy
/// stream ends with a chunk carrying finish_reason "stop", then (when the request asked with stream_options.include_usage,
/// as the OpenAI SDK does) a usage chunk of <see cref="PromptTokens"/> and <see cref="CompletionTokens"/>, then [DONE].
/// </summary>
internal sealed class FakeUpstream : IAsyncDisposable
{
    private readonly HttpListener listener = new();
    private readonly Func<int, UpstreamBehaviour> behaviour;
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;
    private readonly ConcurrentQueue<FakeRequest> requests = new();
    private readonly List<(int Count, TaskCompletionSource Reached)> hitWaiters = [];
    private int hits;

    public FakeUpstream(Func<int, UpstreamBehaviour> behaviour)
    {
        this.behaviour = behaviour;
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort();
            listener.Prefixes.Clear();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                Endpoint = new Uri($"http://127.0.0.1:{port}/");
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // The port was taken between probing and binding; try another.
            }
        }

        loop = Task.Run(ServeAsync);
    }

    public Uri Endpoint { get; } = null!;

    public int Hits => Volatile.Read(ref hits);

    public static string[] Pieces { get; } = ["Hel", "lo ", "from ", "upstream"];

    public static int PromptTokens => 7;

    public static int CompletionTokens => 4;

    /// <summary>Completes once <paramref name="count"/> requests have arrived (a signal, so that a test never sleeps to wait for one).</summary>
    public Task WaitForHitsAsync(int count)
    {
        lock (hitWaiters)
        {
            if (Hits >= count)
            {
                return Task.CompletedTask;
            }

            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            hitWaiters.Add((count, reached));
            return reached.Task;
        }
    }

    /// <summary>The requests received so far, in arrival order.</summary>
    public IReadOnlyList<FakeRequest> Requests => requests.ToArray();

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Stop();
        listener.Close();
        try
        {
            await loop;
        }
        catch (ObjectDisposedException)
        {
        }

        stop.Dispose();
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            var n = Interlocked.Increment(ref hits);
            lock (hitWaiters)
            {
                foreach (var waiter in hitWaiters.Where(w => w.Count <= n))
                {
                    waiter.Reached.TrySetResult();
                }

                hitWaiters.RemoveAll(w => w.Count <= n);
            }

            _ = Task.Run(() => HandleAsync(context, behaviour(n)));
        }
    }

    private async Task HandleAsync(HttpListenerContext context, UpstreamBehaviour what)
    {
        var response = context.Response;
        try
        {
            string body;
            using (var reader = new StreamReader(context.Request.InputStream))
            {
                body = await reader.ReadToEndAsync();
            }

            requests.Enqueue(new FakeRequest(context.Request.Url?.AbsolutePath ?? string.Empty, context.Request.Headers["Authorization"], body));

            switch (what)
            {
                case UpstreamBehaviour.ServerError:
                    await Status(response, 500, "boom");
                    return;
                case UpstreamBehaviour.RateLimitedRetryNow:
                    response.AddHeader("Retry-After", "0");
                    await Status(response, 429, "slow down");
                    return;
                case UpstreamBehaviour.RateLimitedRetryLater:
                    response.AddHeader("Retry-After", "30");
                    await Status(response, 429, "slow down");
                    return;
                case UpstreamBehaviour.RateLimitedRetrySoon:
                    response.AddHeader("Retry-After", "1");
                    await Status(response, 429, "slow down");
                    return;
                case UpstreamBehaviour.OverloadedRetrySoon:
                    response.AddHeader("Retry-After", "1");
                    await Status(response, 503, "overloaded");
                    return;
                case UpstreamBehaviour.Overloaded:
                    await Status(response, 503, "overloaded");
                    return;
                case UpstreamBehaviour.BadRequest:
                    await Status(response, 400, "bad request");
                    return;
                case UpstreamBehaviour.Hang:
                    await Task.Delay(TimeSpan.FromSeconds(10), stop.Token);
                    await Status(response, 500, "too late");
                    return;
            }

            response.StatusCode = 200;
            response.ContentType = "text/event-stream";
            response.SendChunked = true;
            var output = response.OutputStream;
            for (var i = 0; i < Pieces.Length && what != UpstreamBehaviour.Empty; i++)
            {
                await Write(output, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + Pieces[i] + "\"}}]}\n\n");
                if (what == UpstreamBehaviour.AbortMidStream && i == 1)
                {
                    response.Abort();
                    return;
                }
            }

            await Write(output, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
            if (body.Contains("\"include_usage\":true", StringComparison.Ordinal))
            {
                await Write(output, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":" + PromptTokens + ",\"completion_tokens\":" + CompletionTokens
                    + ",\"total_tokens\":" + (PromptTokens + CompletionTokens) + "}}\n\n");
            }

            await Write(output, "data: [DONE]\n\n");
            response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The client went away (a timeout or cancellation under test) or the fake is shutting down.
        }
    }

    private static async Task Write(Stream output, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await output.WriteAsync(bytes);
        await output.FlushAsync();
    }

    private static async Task Status(HttpListenerResponse response, int status, string text)
    {
        response.StatusCode = status;
        var bytes = Encoding.UTF8.GetBytes(text);
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
        response.Close();
    }
}
