using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// A node killed without a goodbye (Orleans' TestingHost: its silo stops answering at once, nothing removes it from the
/// directory): the others' views drop it when Orleans' failure detector declares it dead, and routing stops choosing it.
/// The entries' own lifetime is set long here, so that only membership can drop the node; the time it took is printed.
/// </summary>
public sealed class NodeFailureTests
{
    private static ClusterSettings Settings(string node) => new()
    {
        Enabled = true,
        NodeName = node,
        PublishIntervalMs = 200,
        EntryLifetimeIntervals = 10_000, // only membership drops a node in this test
        ProbeTimeoutMs = 1000,
        MissedProbesLimit = 3,
    };

    [Fact]
    public async Task A_killed_node_drops_out_of_every_view_when_membership_declares_it_dead()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((options, silo) => silo.ConfigureModelRouterMembership(Settings(options.SiloName)));
        builder.ConfigureSiloHost((options, host) =>
        {
            // Every node holds "code"; each also holds a model no other node has, which routing can only send to it.
            host.Services.AddSingleton<ILocalResidency>(new FixedResidency(
                new ModelResidency("code", ResidencyTier.Device, 0, 0, 50),
                new ModelResidency("only-" + options.SiloName, ResidencyTier.Host, 0, 20, 60)));
            host.Services.AddModelRouterClusterServices(Settings(options.SiloName));
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();

        var silos = cluster.Silos.ToList();
        var views = silos.ToDictionary(s => s, s => s.ServiceProvider.GetRequiredService<ClusterView>());
        await Loopback.WaitForAsync(() => views.Values.All(v => v.Current.Nodes.Length == 3), "every node seeing all three");

        // Kill a node that does not host the directory itself (that would test the directory's re-activation instead).
        var directory = cluster.Client.GetGrain<IResidencyDirectoryGrain>(0);
        var host = cluster.TryGetGrainContext(directory.GetGrainId(), out var context) ? context.Address.SiloAddress : null;
        var victim = silos.Skip(1).First(s => s.SiloAddress != host);
        var victimName = views[victim].Current.Nodes.Single(n => n.Silo == victim.SiloAddress).Node;
        var survivors = silos.Where(s => s != victim).ToList();
        var router = survivors[0].ServiceProvider.GetRequiredService<ClusterRouter>();
        Assert.Equal(victimName, router.Choose("only-" + victimName, views[survivors[0]].Current)?.Node);

        await cluster.KillSiloAsync(victim);
        var took = await Loopback.WaitForAsync(
            () => survivors.All(s => views[s].Current.Nodes.All(n => n.Node != victimName)), "the killed node dropping out");

        TestContext.Current.TestOutputHelper?.WriteLine($"killed node {victimName} left every view after {took.TotalMilliseconds:F0} ms (probe timeout 1000 ms x 3)");
        Assert.All(survivors, s => Assert.Equal(2, views[s].Current.Nodes.Length));
        Assert.Null(router.Choose("only-" + victimName, views[survivors[0]].Current)); // nothing goes there any more
        Assert.NotEqual(victimName, router.Choose("code", views[survivors[0]].Current)?.Node);
    }
}
