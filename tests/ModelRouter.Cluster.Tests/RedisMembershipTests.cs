using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// The deployment provider: membership in Redis (Debian's redis-server, started by the test on a free loopback port with
/// nothing saved, stopped after). Two nodes with the same cluster id find each other through it and share the directory.
/// </summary>
public sealed class RedisMembershipTests
{
    private static string? RedisServer() =>
        Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);

    private static IHost Node(string name, int redisPort)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ModelRouter:Cluster:Enabled"] = "true",
            ["ModelRouter:Cluster:Provider"] = "Redis",
            ["ModelRouter:Cluster:Redis"] = "127.0.0.1:" + redisPort.ToString(CultureInfo.InvariantCulture),
            ["ModelRouter:Cluster:ClusterId"] = "redis-test-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            ["ModelRouter:Cluster:NodeName"] = name,
            ["ModelRouter:Cluster:SiloPort"] = Loopback.FreePort().ToString(CultureInfo.InvariantCulture),
            ["ModelRouter:Cluster:GatewayPort"] = Loopback.FreePort().ToString(CultureInfo.InvariantCulture),
            ["ModelRouter:Cluster:PublishIntervalMs"] = "200",
        });
        builder.Services.AddSingleton<ILocalResidency>(new FixedResidency(new ModelResidency("code-" + name, ResidencyTier.Device, 0, 0, 20)));
        Assert.True(builder.AddModelRouterCluster());
        return builder.Build();
    }

    [Fact]
    public async Task Two_nodes_find_each_other_through_a_redis_membership_table()
    {
        var server = RedisServer();
        Assert.SkipWhen(server is null, "redis-server is not installed (./build.sh test installs Debian's redis-server where apt-get can)");
        var port = Loopback.FreePort();
        using var redis = Process.Start(new ProcessStartInfo(server!, $"--port {port} --bind 127.0.0.1 --save \"\" --appendonly no --loglevel warning"))!;
        var nodes = new List<IHost>();
        try
        {
            await Loopback.WaitForAsync(() => CanConnect(port), "redis-server listening");
            nodes.Add(Node("r0", port));
            nodes.Add(Node("r1", port));
            foreach (var node in nodes)
            {
                await node.StartAsync(TestContext.Current.CancellationToken);
            }

            var views = nodes.Select(n => n.Services.GetRequiredService<ClusterView>()).ToList();
            await Loopback.WaitForAsync(() => views.All(v => v.Current.Nodes.Length == 2), "both nodes seeing each other");
            var route = nodes[0].Services.GetRequiredService<ClusterRouter>().Choose("code-r1", views[0].Current);
            Assert.Equal(("r1", RouteReason.OnDevice), (route!.Node, route.Reason));
        }
        finally
        {
            await Loopback.StopAllAsync(nodes);

            redis.Kill(entireProcessTree: true);
            await redis.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static bool CanConnect(int port)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            client.Connect(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
