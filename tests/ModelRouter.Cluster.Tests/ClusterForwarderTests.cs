using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime;
using ModelRouter.Server.Options;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace ModelRouter.Cluster.Tests;

/// <summary>When a node forwards and when it takes forwarded work: only while its view of the cluster is fresh.</summary>
public sealed class ClusterForwarderTests
{
    private static readonly SiloAddress Silo = SiloAddress.New(System.Net.IPAddress.Loopback, 11111, 1);

    private static ResidencySnapshot BOnDevice() => new(
        [
            new NodeResidency("a", Silo, "127.0.0.1:9001", DateTime.UtcNow, 1, [new ModelResidency("m", ResidencyTier.Disk, 0, 0, 300)]),
            new NodeResidency("b", Silo, "127.0.0.1:9002", DateTime.UtcNow, 1, [new ModelResidency("m", ResidencyTier.Device, 0, 0, 20)]),
        ], DateTime.UtcNow);

    [Fact]
    public async Task A_node_forwards_and_takes_forwarded_work_only_while_its_view_is_within_the_entry_lifetime()
    {
        var time = new FakeTimeProvider();
        var view = new ClusterView(time);
        var settings = new ClusterSettings { Enabled = true, NodeName = "a", PublishIntervalMs = 500, EntryLifetimeIntervals = 4 };
        await using var forwarder = new ClusterForwarder(view, new ClusterRouter(), MsOptions.Create(settings), MsOptions.Create(new ServerOptions()),
            NullLogger<ClusterForwarder>.Instance);

        Assert.False(forwarder.AcceptsForwarded); // never heard from the directory
        Assert.Null(forwarder.Choose("m"));

        view.Update(BOnDevice());
        Assert.True(forwarder.AcceptsForwarded);
        Assert.Equal(("b", "127.0.0.1:9002", "OnDevice"), (forwarder.Choose("m")!.Node, forwarder.Choose("m")!.Endpoint, forwarder.Choose("m")!.Reason));
        Assert.Null(forwarder.Choose("unknown"));

        // No publish for longer than the entry lifetime (2 s): partitioned, as far as this node can tell.
        time.Advance(TimeSpan.FromMilliseconds(2001));
        Assert.False(forwarder.AcceptsForwarded);
        Assert.Null(forwarder.Choose("m"));
    }
}
