using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Doors.Http;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;

namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>
/// One of our servers for bench-chat, started in this process as `modelrouter serve` builds it (HTTP door on a free
/// loopback port, one model named <see cref="ModelName"/>). The pool is read directly for the swap check; the model is
/// evicted through the HTTP admin API, as an operator would.
/// </summary>
internal sealed class ChatBenchServer : IAsyncDisposable
{
    public const string ModelName = "chat";
    private const string Token = "bench";
    private const string AdminToken = "bench-admin";

    private readonly IHost host;
    private readonly ModelPool pool;
    private readonly HttpClient admin;

    private ChatBenchServer(IHost host, ModelPool pool, Uri address)
    {
        this.host = host;
        this.pool = pool;
        Address = address;
        admin = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(5), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", AdminToken) } };
    }

    public Uri Address { get; }

    /// <summary>
    /// Starts a server. <paramref name="prefixCacheTokens"/> null keeps the default (reuse on), 0 turns reuse off;
    /// <paramref name="budgetBytes"/> is the device budget (weights and contexts).
    /// </summary>
    public static async Task<ChatBenchServer> StartAsync(ChatBenchSettings settings, long budgetBytes, int? prefixCacheTokens, CancellationToken cancellation)
    {
        string[] args =
        [
            "--ModelRouter:Tcp=127.0.0.1:0",
            "--ModelRouter:Http=http://127.0.0.1:0",
            "--ModelRouter:AuthToken=" + Token,
            "--ModelRouter:AdminToken=" + AdminToken,
            "--ModelRouter:DeviceBudgetBytes=" + budgetBytes.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:DefaultModel=" + ModelName,
            "--ModelRouter:Models:0:Name=" + ModelName,
            "--ModelRouter:Models:0:Path=" + Path.GetFullPath(settings.ModelPath),
            "--ModelRouter:Models:0:Capabilities:0=chat",
            "--ModelRouter:Scheduler:Threads=" + settings.Threads.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Scheduler:ContextPerSequence=" + settings.ContextPerSequence.ToString(CultureInfo.InvariantCulture),
            .. settings.ChatTemplate is { } template ? ["--ModelRouter:Models:0:ChatTemplate=" + template] : Array.Empty<string>(),
            .. prefixCacheTokens is { } tokens ? ["--ModelRouter:Scheduler:PrefixCacheTokens=" + tokens.ToString(CultureInfo.InvariantCulture)] : Array.Empty<string>(),
        ];
        var builder = ModelRouterHost.CreateBuilder(args, configFile: null, new NamedModelOnly());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("llama.cpp", LogLevel.Error);
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellation).ConfigureAwait(false);
            var pool = host.Services.GetRequiredService<ModelRouterService>().Pool;
            var address = host.Services.GetRequiredService<HttpDoorService>().Address
                ?? throw new InvalidOperationException("the HTTP door did not start");
            return new ChatBenchServer(host, pool, address);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    public ChatStreamClient Client() => new(Address, Token, ModelName);

    /// <summary>The pool's view of the model: tier, weight and context bytes, evictions, restores, context releases.</summary>
    public ModelStatus Status() => pool.Snapshot().Single(s => s.Name == ModelName);

    /// <summary>Makes the model resident (POST /admin/models/chat/preload), so turn 1 does not pay for the first load.</summary>
    public Task PreloadAsync(CancellationToken cancellation) => AdminAsync("preload", cancellation);

    /// <summary>
    /// POST /admin/models/chat/evict until the pool says "evicted"; returns the attempts. The worker keeps its lease a
    /// few milliseconds after an answer (Scheduler:Linger) and an evict is refused while it does.
    /// </summary>
    public async Task<int> EvictAsync(CancellationToken cancellation)
    {
        const int attempts = 500;
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            if (await AdminAsync("evict", cancellation).ConfigureAwait(false) == "evicted")
            {
                return attempt;
            }

            await Task.Delay(10, cancellation).ConfigureAwait(false); // a bounded retry of a refused evict
        }

        throw new InvalidOperationException($"the model was never idle long enough to evict ({attempts} attempts)");
    }

    public async ValueTask DisposeAsync()
    {
        admin.Dispose();
        try
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            host.Dispose();
        }
    }

    /// <summary>An admin operation; returns its "message".</summary>
    private async Task<string> AdminAsync(string operation, CancellationToken cancellation)
    {
        using var response = await admin.PostAsync(new Uri($"/admin/models/{ModelName}/{operation}", UriKind.Relative), content: null, cancellation).ConfigureAwait(false);
        var text = await EnsureOkAsync(response, "admin " + operation, cancellation).ConfigureAwait(false);
        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("message").GetString() ?? "";
    }

    private static async Task<string> EnsureOkAsync(HttpResponseMessage response, string what, CancellationToken cancellation)
    {
        var text = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"{what}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}: {text}");
        }

        return text;
    }

    /// <summary>Every request names the model; the classifier is never asked.</summary>
    private sealed class NamedModelOnly : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => ("chat", 1f, false);
    }
}
