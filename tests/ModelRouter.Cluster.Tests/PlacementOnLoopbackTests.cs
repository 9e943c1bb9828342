using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Swap;
using ModelTier = ModelRouter.Runtime.Swap.ModelTier;
using ModelRouter.Server.Hosting;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// Host placement on real servers: two models, each node's host budget holds one. A node alone reads one into its host
/// tier; a node that joins receives the other; a request for it entering the first node is forwarded to the second,
/// which holds it in host RAM.
/// </summary>
public sealed class PlacementOnLoopbackTests
{
    private const string Second = "tiny-b";
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_joining_node_receives_the_model_no_other_node_has_room_for_and_requests_for_it_go_there()
    {
        var (directory, path) = ClusterServers.ForgeModel();
        // Room for one model's weights in each node's host tier, not two.
        var budgetMb = (int)Math.Ceiling(ModelFileIdentity.ValidateAndCapture(path).TensorBytes * 1.5 / (1 << 20));
        string[] Settings() =>
        [
            "--ModelRouter:Cluster:HostBudgetMb=" + budgetMb.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Cluster:PlacementIntervalMs=200",
        ];
        var primaryPort = Loopback.FreePort();
        var a = ClusterServers.Node("a", path, primaryPort, null, tcpPort: Loopback.FreePort(), models: [Second], settings: Settings());
        var b = ClusterServers.Node("b", path, Loopback.FreePort(), primaryPort, tcpPort: Loopback.FreePort(), models: [Second], settings: Settings());
        try
        {
            await a.StartAsync(Cancel);
            var poolOfA = a.Services.GetRequiredService<ModelRouterService>().Pool;
            Assert.True(2 * poolOfA.Snapshot()[0].WeightBytes > (long)budgetMb << 20, "the budget holds one model, not two");
            // With a host budget, placement fills the host tier: the server does not read every model at start.
            Assert.False(a.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Server.Options.ServerOptions>>().Value.PrefetchAtStart);

            // Alone, a reads one model (the first by name: no demand yet) into its host tier; the other stays on disk.
            await Loopback.WaitForAsync(() => Tiers(poolOfA) == (ModelTier.Warm, ModelTier.Cold), "a holding tiny and not tiny-b");

            await b.StartAsync(Cancel);
            var poolOfB = b.Services.GetRequiredService<ModelRouterService>().Pool;
            await Loopback.WaitForAsync(() => Tiers(poolOfB) == (ModelTier.Cold, ModelTier.Warm), "b, joining, receiving tiny-b");
            Assert.Equal((ModelTier.Warm, ModelTier.Cold), Tiers(poolOfA)); // a keeps its copy: nothing moved

            var viewOfA = a.Services.GetRequiredService<ClusterView>();
            await Loopback.WaitForAsync(() => viewOfA.Current.Nodes.SingleOrDefault(n => n.Node == "b")?.Find(Second)?.Tier == ResidencyTier.Host,
                "b's host copy in a's view");
            await using var client = await ModelRouterClient.ConnectAsync(
                a.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!, ClusterServers.Token,
                new ModelRouterClientOptions { ClientName = "placement-test" }, Cancel);
            var answer = await client.CompleteAsync(new GenerateRequest { Prompt = "Once upon a time", Model = Second, MaxTokens = 4, Temperature = 0 }, Cancel);
            Assert.Equal(("b", "InHostRam"), (answer.Node, answer.Placement));
            Assert.Equal(ModelTier.Cold, poolOfA.Snapshot().Single(s => s.Name == Second).Tier); // a never read it
        }
        finally
        {
            await Loopback.StopAllAsync([a, b]);
            Directory.Delete(directory, recursive: true);
        }
    }

    private static (ModelTier Tiny, ModelTier Second) Tiers(ModelPool pool)
    {
        var models = pool.Snapshot();
        return (models.Single(s => s.Name == ClusterServers.Model).Tier, models.Single(s => s.Name == Second).Tier);
    }
}
