using System.Collections.Immutable;
using Orleans.Runtime;

namespace ModelRouter.Cluster.Tests;

/// <summary>The choice of node across the cluster: device, then host RAM, then least loaded; hysteresis against bouncing.</summary>
public sealed class ClusterRouterTests
{
    private static readonly SiloAddress Silo = SiloAddress.New(System.Net.IPAddress.Loopback, 11111, 1);

    private static NodeResidency Node(string name, params ModelResidency[] models) =>
        new(name, Silo, name + ":9000", DateTime.UtcNow, 1, [.. models]);

    private static ModelResidency M(string model, ResidencyTier tier, int queue = 0, double swap = 0, double ttft = 20) =>
        new(model, tier, queue, swap, ttft);

    private static ResidencySnapshot Directory(params NodeResidency[] nodes) => new([.. nodes], DateTime.UtcNow);

    [Fact]
    public void A_node_with_the_model_on_its_device_wins_over_cheaper_looking_host_ram()
    {
        var route = new ClusterRouter().Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Host, swap: 5, ttft: 10)),
            Node("b", M("code", ResidencyTier.Device, queue: 2, ttft: 40)),
            Node("c", M("code", ResidencyTier.Disk, ttft: 5))));

        Assert.NotNull(route);
        Assert.Equal("b", route.Node);
        Assert.Equal(RouteReason.OnDevice, route.Reason);
        Assert.Equal("b:9000", route.ForwardEndpoint);
    }

    [Fact]
    public void Routing_for_a_live_node_passes_over_nodes_no_request_can_reach()
    {
        // b holds the model on its device but publishes no forward endpoint: a request at a cannot get there.
        var directory = Directory(
            Node("a", M("code", ResidencyTier.Disk, ttft: 300)),
            Node("b", M("code", ResidencyTier.Device, ttft: 20)) with { ForwardEndpoint = null },
            Node("c", M("code", ResidencyTier.Host, swap: 30, ttft: 60)));

        Assert.Equal("c", new ClusterRouter().Choose("code", directory, localNode: "a")!.Node);
        Assert.Equal("b", new ClusterRouter().Choose("code", directory, localNode: "b")!.Node); // b itself serves it
        Assert.Equal("b", new ClusterRouter().Choose("code", directory)!.Node); // a study of placement sees every node
    }

    [Fact]
    public void Requests_for_a_cold_model_join_the_node_already_loading_it_instead_of_starting_a_second_load()
    {
        // b has a request queued for "code" (its load is under way), so it is the busier node; c is idle.
        var route = new ClusterRouter().Choose("code", Directory(
            Node("b", M("code", ResidencyTier.Host, queue: 1, swap: 30, ttft: 60)),
            Node("c", M("code", ResidencyTier.Host, swap: 30, ttft: 50))));

        Assert.Equal(("b", RouteReason.Loading), (route!.Node, route.Reason));
    }

    [Fact]
    public void Without_a_device_copy_the_cheapest_host_ram_swap_wins()
    {
        var route = new ClusterRouter().Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Host, swap: 90, ttft: 120)),
            Node("b", M("code", ResidencyTier.Host, swap: 30, ttft: 50)),
            Node("c", M("code", ResidencyTier.Disk, ttft: 10))));

        Assert.Equal(("b", RouteReason.InHostRam), (route!.Node, route.Reason));
    }

    [Fact]
    public void In_host_ram_the_least_loaded_node_wins_so_cold_models_do_not_all_pile_on_one_node()
    {
        // Equal swaps everywhere: the node whose device is busy with other models' requests is not chosen.
        var route = new ClusterRouter().Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Host, swap: 30, ttft: 50), M("chat", ResidencyTier.Device, queue: 3)),
            Node("b", M("code", ResidencyTier.Host, swap: 30, ttft: 55), M("chat", ResidencyTier.Host))));

        Assert.Equal(("b", RouteReason.InHostRam), (route!.Node, route.Reason));
    }

    [Fact]
    public void In_host_ram_a_node_with_room_on_its_device_wins_over_a_less_loaded_one_that_must_evict()
    {
        var code = M("code", ResidencyTier.Host, swap: 30, ttft: 50) with { WeightBytes = 6 };
        var route = new ClusterRouter().Choose("code", Directory(
            Node("a", code, M("chat", ResidencyTier.Device, queue: 0)) with { DeviceFreeBytes = 2 },
            Node("b", code, M("chat", ResidencyTier.Device, queue: 2)) with { DeviceFreeBytes = 10 }));

        Assert.Equal(("b", RouteReason.InHostRam), (route!.Node, route.Reason));
    }

    [Fact]
    public void Held_nowhere_it_goes_to_the_least_loaded_node_that_can_load_it()
    {
        var route = new ClusterRouter().Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Disk, ttft: 900), M("chat", ResidencyTier.Device, queue: 6)),
            Node("b", M("code", ResidencyTier.Disk, ttft: 950), M("chat", ResidencyTier.Device, queue: 1)),
            Node("c", M("chat", ResidencyTier.Device)))); // c cannot serve code at all

        Assert.Equal(("b", RouteReason.LeastLoaded), (route!.Node, route.Reason));
    }

    [Fact]
    public void A_device_queue_past_the_spill_depth_ranks_with_host_ram()
    {
        var router = new ClusterRouter(new ClusterRoutingOptions { SpillQueueDepth = 4 });
        var route = router.Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Device, queue: 9, ttft: 400)),
            Node("b", M("code", ResidencyTier.Host, swap: 30, ttft: 60))));

        Assert.Equal("b", route!.Node);
    }

    [Fact]
    public void The_last_node_is_kept_while_it_stays_close_to_the_best_and_left_when_it_falls_behind()
    {
        var router = new ClusterRouter(new ClusterRoutingOptions { KeepWithinFactor = 1.5, KeepWithinMs = 10 });
        Assert.Equal("a", router.Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Device, ttft: 20)),
            Node("b", M("code", ResidencyTier.Device, ttft: 30))))!.Node);

        // b is a little better now (a's queue grew by one): a is kept, so a burst does not bounce the model.
        var kept = router.Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Device, queue: 1, ttft: 28)),
            Node("b", M("code", ResidencyTier.Device, ttft: 20))));
        Assert.Equal(("a", RouteReason.Kept), (kept!.Node, kept.Reason));

        // a is far behind: b takes over and becomes the node to keep.
        Assert.Equal("b", router.Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Device, queue: 4, ttft: 200)),
            Node("b", M("code", ResidencyTier.Device, ttft: 20))))!.Node);
        Assert.Equal(("b", RouteReason.Kept), (router.Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Device, ttft: 19)),
            Node("b", M("code", ResidencyTier.Device, ttft: 22))))! is var r ? (r.Node, r.Reason) : default));
    }

    [Fact]
    public void Hysteresis_never_keeps_a_node_in_a_worse_tier()
    {
        var router = new ClusterRouter(new ClusterRoutingOptions { KeepWithinFactor = 100, KeepWithinMs = 1000 });
        Assert.Equal("a", router.Choose("code", Directory(Node("a", M("code", ResidencyTier.Host, swap: 30, ttft: 40))))!.Node);

        var route = router.Choose("code", Directory(
            Node("a", M("code", ResidencyTier.Host, swap: 30, ttft: 40)),
            Node("b", M("code", ResidencyTier.Device, ttft: 45))));

        Assert.Equal(("b", RouteReason.OnDevice), (route!.Node, route.Reason));
    }

    [Fact]
    public void No_live_node_serving_the_model_gives_no_route()
    {
        Assert.Null(new ClusterRouter().Choose("code", Directory(Node("a", M("chat", ResidencyTier.Device)))));
        Assert.Null(new ClusterRouter().Choose("code", ResidencySnapshot.Empty));
    }

    [Fact]
    public void Settings_list_every_problem_at_once_and_none_when_clustering_is_off()
    {
        Assert.Empty(new ClusterSettings { Redis = null, SiloPort = 0 }.Validate());
        var problems = new ClusterSettings
        {
            Enabled = true,
            Provider = ClusterProvider.Redis,
            SiloPort = 30000,
            GatewayPort = 30000,
            PrimaryNode = "not an endpoint",
            PublishIntervalMs = 10,
            ForwardEndpoint = "10.0.0.5", // no port
        }.Validate();

        Assert.Equal(5, problems.Count);
        Assert.Contains(problems, p => p.Contains(":ForwardEndpoint", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains(":Redis", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains(":PrimaryNode", StringComparison.Ordinal));
    }
}
