using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Forge;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// Two real servers (socket door, a forged model each) joined on loopback: each publishes what its pool and scheduler
/// say, so a request served on one node shows in the other's view as that model on the first node's device, and the
/// other node's router then sends the model there.
/// </summary>
public sealed class ServerResidencyTests
{
    [Fact]
    public async Task A_model_served_on_one_node_shows_on_its_device_in_the_others_view_and_is_routed_there()
    {
        var (directory, path) = ClusterServers.ForgeModel();
        var primaryPort = Loopback.FreePort();
        var nodes = new[] { ClusterServers.Node("a", path, primaryPort, null), ClusterServers.Node("b", path, Loopback.FreePort(), primaryPort) };
        try
        {
            foreach (var node in nodes)
            {
                await node.StartAsync(TestContext.Current.CancellationToken);
            }

            var viewOfB = nodes[1].Services.GetRequiredService<ClusterView>();
            await Loopback.WaitForAsync(() => viewOfB.Current.Nodes.Length == 2, "b seeing both nodes");
            Assert.All(viewOfB.Current.Nodes, n => Assert.NotEqual(ResidencyTier.Device, n.Find(ClusterServers.Model)!.Tier)); // nothing served yet

            var endpoint = nodes[0].Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
            await using (var client = await ModelRouterClient.ConnectAsync(endpoint, ClusterServers.Token, new ModelRouterClientOptions { ClientName = "cluster-test" },
                TestContext.Current.CancellationToken))
            {
                var tokens = 0;
                await foreach (var chunk in client.GenerateAsync(new GenerateRequest { Prompt = "Once upon a time", Model = ClusterServers.Model, MaxTokens = 4 },
                    TestContext.Current.CancellationToken))
                {
                    tokens += chunk.TokenCount;
                }

                Assert.True(tokens > 0);
            }

            await Loopback.WaitForAsync(() => viewOfB.Current.Nodes.Single(n => n.Node == "a").Find(ClusterServers.Model)!.Tier == ResidencyTier.Device, "a's model on its device in b's view");
            var route = nodes[1].Services.GetRequiredService<ClusterRouter>().Choose(ClusterServers.Model, viewOfB.Current);
            Assert.Equal(("a", RouteReason.OnDevice), (route!.Node, route.Reason));
        }
        finally
        {
            await Loopback.StopAllAsync(nodes);
            Directory.Delete(directory, recursive: true);
        }
    }

}
