using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Client;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Tests;

/// <summary>A real server on a loopback port (TCP port 0) over copies of stories260K, for end-to-end tests.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    public const string Token = "test-token";
    public const string AdminToken = "admin-token";

    private readonly IHost host;

    private TestServer(IHost host, IPEndPoint endpoint, Uri? http)
    {
        this.host = host;
        Endpoint = endpoint;
        Http = http;
    }

    public IPEndPoint Endpoint { get; }

    /// <summary>The HTTP door's base address (with --ModelRouter:Http=...), else null.</summary>
    public Uri? Http { get; }

    public IServiceProvider Services => host.Services;

    public ModelRouterService Service => host.Services.GetRequiredService<ModelRouterService>();

    /// <summary>The socket door (its connections, frame budget and clock).</summary>
    public ListenerService Listener => host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single();

    public static Task<TestServer> StartAsync(TestModels models, int residentModels, params string[] extra) =>
        StartAsync(models, residentModels, services: _ => { }, extra);

    /// <summary>As above, with services replaced before the host is built (e.g. a fake <see cref="TimeProvider"/>).</summary>
    public static async Task<TestServer> StartAsync(TestModels models, int residentModels, Action<IServiceCollection> services, params string[] extra)
    {
        var size = new FileInfo(models.Paths[0]).Length;
        var args = new List<string>
        {
            "--ModelRouter:Tcp=127.0.0.1:0",
            $"--ModelRouter:AuthToken={Token}",
            $"--ModelRouter:AdminToken={AdminToken}",
            $"--ModelRouter:DeviceBudgetBytes={(size * residentModels) + (size / 2)}",
            "--ModelRouter:Scheduler:MaxBatchPerModel=8",
            "--ModelRouter:Scheduler:ContextPerSequence=128",
            "--ModelRouter:Scheduler:Threads=1",
            "--ModelRouter:Scheduler:MaxWaitMs=200",
            "--ModelRouter:Scheduler:MinResidencyMs=20",
        };
        for (var i = 0; i < models.Paths.Count; i++)
        {
            args.Add($"--ModelRouter:Models:{i}:Name=m{i}");
            args.Add($"--ModelRouter:Models:{i}:Path={models.Paths[i]}");
            args.Add($"--ModelRouter:Models:{i}:Capabilities:0=chat");
        }

        args.AddRange(extra);
        var builder = ModelRouterHost.CreateBuilder([.. args], configFile: null, new FixedClassifier("chat"));
        builder.Logging.ClearProviders();
        services(builder.Services);
        var host = builder.Build();
        try
        {
            await host.StartAsync(TestContext.Current.CancellationToken);
        }
        catch
        {
            try
            {
                await host.StopAsync(CancellationToken.None); // what started (models, scheduler) stops with the failed start
            }
            catch (ArgumentNullException)
            {
                // Options validation failed before the host resolved any service: nothing started, nothing to stop
                // (the host's concurrent stop does not expect that).
            }

            host.Dispose();
            throw;
        }

        var listener = host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single();
        var http = host.Services.GetRequiredService<Doors.Http.HttpDoorService>().Address;
        return new TestServer(host, listener.TcpEndpoint!, http);
    }

    public Task<ModelRouterClient> ConnectAsync(string token = Token) =>
        ModelRouterClient.ConnectAsync(Endpoint, token, cancellationToken: TestContext.Current.CancellationToken);

    public async Task StopAsync() => await host.StopAsync(TestContext.Current.CancellationToken);

    /// <summary>Stops the host as SIGTERM does; <paramref name="deadline"/> fires when the shutdown timeout would.</summary>
    public Task StopAsync(CancellationToken deadline) => host.StopAsync(deadline);

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync(CancellationToken.None);
        host.Dispose();
    }

    private sealed class FixedClassifier(string task) : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => (task, 1f, false);
    }
}
