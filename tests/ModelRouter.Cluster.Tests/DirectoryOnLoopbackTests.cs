using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// Three real nodes on loopback, each a host joined with <see cref="ClusterHosting.AddModelRouterCluster"/> (Orleans
/// localhost clustering, the first node keeping the table), publishing a fixed residency: every node's view holds every
/// node, and a node that leaves drops out of the others' views. Bounded waits only.
/// </summary>
public sealed class DirectoryOnLoopbackTests
{

    private static IHost Node(string name, int siloPort, int? primaryPort, ILocalResidency residency)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ModelRouter:Cluster:Enabled"] = "true",
            ["ModelRouter:Cluster:NodeName"] = name,
            ["ModelRouter:Cluster:ClusterId"] = "test-" + Environment.ProcessId,
            ["ModelRouter:Cluster:SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ModelRouter:Cluster:GatewayPort"] = Loopback.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ModelRouter:Cluster:PrimaryNode"] = primaryPort is { } p ? "127.0.0.1:" + p.ToString(System.Globalization.CultureInfo.InvariantCulture) : null,
            ["ModelRouter:Cluster:ForwardEndpoint"] = name + ":9000",
            ["ModelRouter:Cluster:PublishIntervalMs"] = "200",
        });
        builder.Services.AddSingleton(residency);
        Assert.True(builder.AddModelRouterCluster());
        return builder.Build();
    }


    [Fact]
    public async Task Every_node_sees_every_node_and_a_node_that_leaves_drops_out()
    {
        var primaryPort = Loopback.FreePort();
        var nodes = new List<IHost>
        {
            Node("n0", primaryPort, null, new FixedResidency(new ModelResidency("code", ResidencyTier.Device, 0, 0, 20))),
            Node("n1", Loopback.FreePort(), primaryPort, new FixedResidency(new ModelResidency("code", ResidencyTier.Host, 0, 30, 60))),
            Node("n2", Loopback.FreePort(), primaryPort, new FixedResidency(new ModelResidency("chat", ResidencyTier.Device, 3, 0, 25))),
        };
        try
        {
            foreach (var node in nodes)
            {
                await node.StartAsync(TestContext.Current.CancellationToken);
            }

            var views = nodes.Select(n => n.Services.GetRequiredService<ClusterView>()).ToList();
            await Loopback.WaitForAsync(() => views.All(v => v.Current.Nodes.Length == 3), "every node seeing all three");

            var seen = views[1].Current;
            Assert.Equal(["n0", "n1", "n2"], seen.Nodes.Select(n => n.Node));
            Assert.Equal(ResidencyTier.Host, seen.Nodes[1].Find("code")!.Tier);
            Assert.Equal("n2:9000", seen.Nodes[2].ForwardEndpoint);
            Assert.True(views[2].Age < TimeSpan.FromSeconds(5));
            var route = nodes[2].Services.GetRequiredService<ClusterRouter>().Choose("code", views[2].Current);
            Assert.Equal(("n0", RouteReason.OnDevice), (route!.Node, route.Reason));

            // The directory answers only for live, fresh entries: a silo that membership does not list and an older publish
            // of a known node are left out, and an entry nobody publishes again leaves after its lifetime (4 x 200 ms).
            var directory = nodes[0].Services.GetRequiredService<IGrainFactory>().GetGrain<IResidencyDirectoryGrain>(0);
            var n0 = seen.Nodes[0];
            var stranger = SiloAddress.New(System.Net.IPAddress.Loopback, 1, 1);
            await directory.PublishAsync(n0 with { Node = "ghost", Silo = stranger });
            var answer = await directory.PublishAsync(n0 with { Node = "quiet" });
            Assert.Contains(answer.Nodes, n => n.Node == "quiet");
            answer = await directory.PublishAsync(n0 with { Sequence = 0, Models = [] });
            Assert.DoesNotContain(answer.Nodes, n => n.Node == "ghost");
            Assert.NotEmpty(answer.Nodes.Single(n => n.Node == "n0").Models);
            var quietSince = System.Diagnostics.Stopwatch.GetTimestamp();
            while ((await directory.SnapshotAsync()).Nodes.Any(n => n.Node == "quiet"))
            {
                Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(quietSince) < Loopback.Bound, "an entry nobody publishes again did not leave");
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }

            // The live nodes stay listed. On a loaded machine one of them may publish later than this test's short lifetime
            // and drop out for a moment (seen once in CI: n1); its next publish brings it back, so wait for that.
            var listed = await directory.SnapshotAsync();
            while (listed.Nodes.Length != 3 && System.Diagnostics.Stopwatch.GetElapsedTime(quietSince) < Loopback.Bound)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
                listed = await directory.SnapshotAsync();
            }

            Assert.Equal(["n0", "n1", "n2"], listed.Nodes.Select(n => n.Node));

            // n1 leaves: the others stop listing it (it removes itself; membership would within its timeout).
            await nodes[1].StopAsync(TestContext.Current.CancellationToken);
            await Loopback.WaitForAsync(() => views[0].Current.Nodes.Length == 2 && views[2].Current.Nodes.Length == 2, "n1 dropping out");
            Assert.DoesNotContain(views[2].Current.Nodes, n => n.Node == "n1");
        }
        finally
        {
            await Loopback.StopAllAsync(nodes);
        }
    }
}
