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
    private const string Token = "cluster-test";
    private const string Model = "tiny";

    private sealed class Chat : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => ("chat", 1f, false);
    }


    private static IHost Server(string node, string modelPath, int siloPort, int? primaryPort)
    {
        var args = new List<string>
        {
            "--ModelRouter:Tcp=127.0.0.1:0",
            "--ModelRouter:AuthToken=" + Token,
            "--ModelRouter:DefaultModel=" + Model,
            "--ModelRouter:Models:0:Name=" + Model,
            "--ModelRouter:Models:0:Path=" + modelPath,
            "--ModelRouter:Models:0:Capabilities:0=chat",
            "--ModelRouter:Cluster:Enabled=true",
            "--ModelRouter:Cluster:NodeName=" + node,
            "--ModelRouter:Cluster:ClusterId=servers-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Cluster:SiloPort=" + siloPort.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Cluster:GatewayPort=" + Loopback.FreePort().ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Cluster:PublishIntervalMs=200",
        };
        if (primaryPort is { } primary)
        {
            args.Add("--ModelRouter:Cluster:PrimaryNode=127.0.0.1:" + primary.ToString(CultureInfo.InvariantCulture));
        }

        var builder = ModelRouterHost.CreateBuilder([.. args], configFile: null, new Chat());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        Assert.True(builder.AddModelRouterCluster());
        return builder.Build();
    }

    [Fact]
    public async Task A_model_served_on_one_node_shows_on_its_device_in_the_others_view_and_is_routed_there()
    {
        var vocab = TestRepository.RequireLlamaFile(Path.Combine("models", VocabLocator.DefaultFileName(ForgeArchitecture.Llama)));
        var directory = Directory.CreateTempSubdirectory("mr-cluster-").FullName;
        var path = Path.Combine(directory, "tiny.gguf");
        var shape = ForgePresets.TryGet("tiny", out var tiny) ? tiny : throw new InvalidOperationException("no tiny preset");
        ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q8_0) { VocabPath = vocab, Seed = 7 }, path, cancellationToken: TestContext.Current.CancellationToken);
        var primaryPort = Loopback.FreePort();
        var nodes = new[] { Server("a", path, primaryPort, null), Server("b", path, Loopback.FreePort(), primaryPort) };
        try
        {
            foreach (var node in nodes)
            {
                await node.StartAsync(TestContext.Current.CancellationToken);
            }

            var viewOfB = nodes[1].Services.GetRequiredService<ClusterView>();
            await Loopback.WaitForAsync(() => viewOfB.Current.Nodes.Length == 2, "b seeing both nodes");
            Assert.All(viewOfB.Current.Nodes, n => Assert.NotEqual(ResidencyTier.Device, n.Find(Model)!.Tier)); // nothing served yet

            var endpoint = nodes[0].Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
            await using (var client = await ModelRouterClient.ConnectAsync(endpoint, Token, new ModelRouterClientOptions { ClientName = "cluster-test" },
                TestContext.Current.CancellationToken))
            {
                var tokens = 0;
                await foreach (var chunk in client.GenerateAsync(new GenerateRequest { Prompt = "Once upon a time", Model = Model, MaxTokens = 4 },
                    TestContext.Current.CancellationToken))
                {
                    tokens += chunk.TokenCount;
                }

                Assert.True(tokens > 0);
            }

            await Loopback.WaitForAsync(() => viewOfB.Current.Nodes.Single(n => n.Node == "a").Find(Model)!.Tier == ResidencyTier.Device, "a's model on its device in b's view");
            var route = nodes[1].Services.GetRequiredService<ClusterRouter>().Choose(Model, viewOfB.Current);
            Assert.Equal(("a", RouteReason.OnDevice), (route!.Node, route.Reason));
        }
        finally
        {
            await Loopback.StopAllAsync(nodes);
            Directory.Delete(directory, recursive: true);
        }
    }

}
