using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Server.Hosting;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// A forward cut mid-answer on live nodes: node a forwards to node b through a relay that resets the connection right
/// after b's first piece, as b's death would. The client gets the piece and then a typed error naming b, never a
/// spliced answer; a stays healthy, and its next forward to b goes over a new connection and completes.
/// </summary>
public sealed class ForwardCutOnLoopbackTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_forward_whose_connection_dies_mid_answer_ends_with_a_typed_error_and_the_next_one_completes()
    {
        var (directory, path) = ClusterServers.ForgeModel();
        var primaryPort = Loopback.FreePort();
        var doorOfB = Loopback.FreePort();
        await using var proxy = new CuttingProxy(new IPEndPoint(IPAddress.Loopback, doorOfB));
        var a = ClusterServers.Node("a", path, primaryPort, null, tcpPort: Loopback.FreePort());
        var b = ClusterServers.Node("b", path, Loopback.FreePort(), primaryPort, tcpPort: doorOfB,
            settings: ["--ModelRouter:Cluster:ForwardEndpoint=127.0.0.1:" + proxy.Endpoint.Port.ToString(CultureInfo.InvariantCulture)]);
        try
        {
            await a.StartAsync(Cancel);
            await b.StartAsync(Cancel);
            await using (var admin = await ConnectAsync(b, ClusterServers.AdminToken))
            {
                await admin.PreloadAsync(ClusterServers.Model, Cancel);
            }

            var viewOfA = a.Services.GetRequiredService<ClusterView>();
            await Loopback.WaitForAsync(() => viewOfA.Current.Nodes.SingleOrDefault(n => n.Node == "b")?.Find(ClusterServers.Model)?.Tier == ResidencyTier.Device,
                "b's model on its device in a's view");
            await using var client = await ConnectAsync(a);
            var request = new GenerateRequest { Prompt = "Once upon a time", Model = ClusterServers.Model, MaxTokens = 48, Temperature = 0 };
            var whole = await client.CompleteAsync(request, Cancel); // opens a's connection to b through the relay
            Assert.Equal(("b", "OnDevice"), (whole.Node, whole.Placement));

            proxy.HoldAfterNextPiece();
            var relayed = "";
            GenerationResult? done = null;
            var error = await Record.ExceptionAsync(async () =>
            {
                await foreach (var chunk in client.GenerateAsync(request, Cancel))
                {
                    relayed += chunk.Text;
                    done = chunk.Result ?? done;
                    proxy.Cut(); // b's first piece is here: b dies now
                }
            }) as ModelRouterException;
            Assert.True(error is not null, $"no error: {proxy.Cuts} cuts, ran on {done?.Node} ({done?.Placement})");

            Assert.Equal(1, proxy.Cuts);
            Assert.Equal(ErrorCode.ModelUnavailable, error.Code);
            Assert.Contains("node b failed mid-answer", error.Message, StringComparison.Ordinal);
            Assert.False(string.IsNullOrEmpty(relayed)); // b's first piece reached the client ...
            Assert.StartsWith(relayed, whole.Text, StringComparison.Ordinal); // ... as b wrote it; nothing from a was spliced on
            Assert.NotEqual(whole.Text, relayed);
            Assert.NotEqual(Runtime.Swap.ModelState.Resident, a.Services.GetRequiredService<ModelRouterService>().Pool.Snapshot().Single().State);

            // a is healthy, and replaces the broken connection: the next forward completes, word for word.
            var again = await client.CompleteAsync(request, Cancel);
            Assert.Equal(("b", whole.Text), (again.Node, again.Text));
        }
        finally
        {
            await Loopback.StopAllAsync([a, b]);
            Directory.Delete(directory, recursive: true);
        }
    }

    private static Task<ModelRouterClient> ConnectAsync(IHost node, string token = ClusterServers.Token) =>
        ModelRouterClient.ConnectAsync(node.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!, token,
            new ModelRouterClientOptions { ClientName = "forward-cut-test" }, Cancel);
}
