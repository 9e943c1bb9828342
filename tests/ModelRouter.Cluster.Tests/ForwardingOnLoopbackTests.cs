using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Requests;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// Two real servers on loopback, each with its socket door as its forward endpoint: a request sent to the node that
/// does not hold its model runs on the node that does, over the socket protocol, and comes back as that node's answer
/// word for word, with the node named in the stats; a request another node forwarded is never forwarded again.
/// </summary>
public sealed class ForwardingOnLoopbackTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static GenerateRequest Greedy(bool forwarded = false) =>
        new() { Prompt = "Once upon a time", Model = ClusterServers.Model, MaxTokens = 8, Temperature = 0, Forwarded = forwarded };

    private static Task<ModelRouterClient> ConnectAsync(IHost node, string token = ClusterServers.Token) =>
        ModelRouterClient.ConnectAsync(node.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!, token,
            new ModelRouterClientOptions { ClientName = "forwarding-test" }, Cancel);

    /// <summary>
    /// Starts nodes a and b (each forwarding to the other's socket door), has b load the model onto its device, and
    /// waits until a's view shows it there; then runs <paramref name="test"/> and stops both.
    /// </summary>
    private static async Task WithModelOnBAsync(Func<IHost[], Task> test)
    {
        var (directory, path) = ClusterServers.ForgeModel();
        var primaryPort = Loopback.FreePort();
        var nodes = new[]
        {
            ClusterServers.Node("a", path, primaryPort, null, tcpPort: Loopback.FreePort()),
            ClusterServers.Node("b", path, Loopback.FreePort(), primaryPort, tcpPort: Loopback.FreePort()),
        };
        try
        {
            foreach (var node in nodes)
            {
                await node.StartAsync(Cancel);
            }

            await using (var admin = await ConnectAsync(nodes[1], ClusterServers.AdminToken))
            {
                await admin.PreloadAsync(ClusterServers.Model, Cancel);
            }

            var viewOfA = nodes[0].Services.GetRequiredService<ClusterView>();
            await Loopback.WaitForAsync(() => viewOfA.Current.Nodes.SingleOrDefault(n => n.Node == "b")?.Find(ClusterServers.Model)?.Tier == ResidencyTier.Device,
                "b's model on its device in a's view");
            await test(nodes);
        }
        finally
        {
            await Loopback.StopAllAsync(nodes);
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public Task A_request_for_a_model_another_node_holds_runs_there_and_streams_back_as_that_nodes_answer() => WithModelOnBAsync(async nodes =>
    {
        await using var toB = await ConnectAsync(nodes[1]);
        await using var toA = await ConnectAsync(nodes[0]);
        var direct = await toB.CompleteAsync(Greedy(), Cancel);
        var forwarded = await toA.CompleteAsync(Greedy(), Cancel);

        Assert.Equal(("b", "b", "OnDevice"), (direct.Node, forwarded.Node, forwarded.Placement));
        Assert.Equal(direct.Text, forwarded.Text); // b's words, relayed whole
        Assert.Equal(direct.Stats.GeneratedTokens, forwarded.Stats.GeneratedTokens);
        Assert.NotEqual(Runtime.Swap.ModelState.Resident,
            nodes[0].Services.GetRequiredService<ModelRouterService>().Pool.Snapshot().Single().State); // a never loaded it

        // Sent to a as b would forward it: a serves it itself, although b holds the model.
        var kept = await toA.CompleteAsync(Greedy(forwarded: true), Cancel);
        Assert.Equal(("a", "Forwarded"), (kept.Node, kept.Placement));
        Assert.Equal(direct.Text, kept.Text); // the same model file, greedy: the same words
    });

    [Fact]
    public Task A_node_whose_forward_endpoint_refuses_connections_costs_the_request_nothing_it_is_served_locally() => WithModelOnBAsync(async nodes =>
    {
        Assert.Equal("b", nodes[0].Services.GetRequiredService<IRequestForwarder>().Choose(ClusterServers.Model)?.Node);

        // b's socket door closes (its silo stays, so the directory still lists it): a's forward cannot connect.
        await nodes[1].Services.GetServices<IHostedService>().OfType<ListenerService>().Single().StopAsync(Cancel);
        await using var toA = await ConnectAsync(nodes[0]);
        var result = await toA.CompleteAsync(Greedy(), Cancel);

        Assert.Equal("a", result.Node);
        Assert.StartsWith("ServedHere: node b at 127.0.0.1:", result.Placement, StringComparison.Ordinal);
        Assert.True(result.Stats.GeneratedTokens > 0);
    });
}
