using System.Collections.Immutable;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// The cluster's host placement: every model placed before any is replicated (cold spread), then copies by demand per
/// copy (hot replicated), each node under its budget; joins and leaves re-place; held copies stay put.
/// </summary>
public sealed class HostPlacementTests
{
    private const long Mb = 1L << 20;
    private static readonly SiloAddress Silo = SiloAddress.New(System.Net.IPAddress.Loopback, 11111, 1);
    private static readonly string[] Six = ["m1", "m2", "m3", "m4", "m5", "m6"];

    /// <summary>A node serving <see cref="Six"/> (100 MB each) with a budget of <paramref name="slots"/> models, holding <paramref name="held"/> in host RAM.</summary>
    private static NodeResidency Node(string name, int slots, IReadOnlyDictionary<string, double>? demand = null, params string[] held) =>
        new(name, Silo, name + ":9000", DateTime.UtcNow, 1,
            [.. Six.Select(m => new ModelResidency(m, held.Contains(m) ? ResidencyTier.Host : ResidencyTier.Disk, 0, 0, 20, 100 * Mb,
                demand?.GetValueOrDefault(m) ?? 0))],
            HostBudgetBytes: slots * 100 * Mb);

    /// <summary>Zipf-like demand, requests per minute summed over the cluster (each node reports a third).</summary>
    private static readonly Dictionary<string, double> Skewed = new() { ["m1"] = 20, ["m2"] = 6, ["m3"] = 3, ["m4"] = 2, ["m5"] = 1, ["m6"] = 0.5 };

    [Fact]
    public void Without_demand_every_model_gets_one_copy_spread_over_the_nodes_under_each_budget()
    {
        var plan = HostPlacement.Plan([Node("a", 2), Node("b", 2), Node("c", 2)]);

        Assert.All(Six, m => Assert.Equal(1, plan.Copies(m)));
        Assert.All(plan.ByNode.Values, models => Assert.Equal(2, models.Count));
        Assert.Empty(plan.Unplaced);
    }

    [Fact]
    public void Hot_models_are_replicated_in_proportion_to_demand_once_every_model_has_a_copy()
    {
        var plan = HostPlacement.Plan([Node("a", 3, Skewed), Node("b", 3, Skewed), Node("c", 3, Skewed)]);

        Assert.All(Six, m => Assert.True(plan.Copies(m) >= 1, m + " has a copy"));
        Assert.Equal(3, plan.Copies("m1")); // the hot model on every node
        Assert.Equal(2, plan.Copies("m2"));
        Assert.Equal(1, plan.Copies("m6"));
        Assert.All(plan.ByNode.Values, models => Assert.True(models.Count <= 3));
        Assert.Equal(9, plan.ByNode.Values.Sum(m => m.Count)); // the budgets are used, not left idle
    }

    [Fact]
    public void A_model_no_budget_can_take_stays_on_disk_and_an_unbounded_node_keeps_everything()
    {
        var big = Node("a", 2) with { Models = [new ModelResidency("huge", ResidencyTier.Disk, 0, 0, 20, 500 * Mb), .. Node("a", 2).Models] };
        var plan = HostPlacement.Plan([big, Node("b", 2)]);
        Assert.Equal(["huge", "m5", "m6"], plan.Unplaced);

        var withUnbounded = HostPlacement.Plan([Node("a", 2), Node("u", 0)]);
        Assert.Equal(Six, withUnbounded.For("u"));
        Assert.Equal(2, withUnbounded.For("a").Count); // its budget still goes to second copies
    }

    [Fact]
    public void The_plan_is_the_same_whatever_order_the_nodes_arrive_in()
    {
        var nodes = new[] { Node("a", 2, Skewed), Node("b", 3, Skewed), Node("c", 2, Skewed) };
        var one = HostPlacement.Plan(nodes);
        var other = HostPlacement.Plan([nodes[2], nodes[0], nodes[1]]);

        Assert.All(nodes, n => Assert.Equal(one.For(n.Node), other.For(n.Node)));
    }

    [Fact]
    public void Held_copies_stay_put_when_demand_shifts_a_little_and_move_when_it_shifts_clearly()
    {
        var plan = HostPlacement.Plan([Node("a", 3, Skewed), Node("b", 3, Skewed), Node("c", 3, Skewed)]);
        NodeResidency Holding(string name, Dictionary<string, double> demand) => Node(name, 3, demand, [.. plan.For(name)]);

        // m3 edges past m2 (6.5 against 6 requests a minute per node): without the bonus for held copies, the last slot
        // (m2's second copy) would go to m3, and two nodes would release one model and read another for 8% of demand.
        var nudged = new Dictionary<string, double>(Skewed) { ["m2"] = 6, ["m3"] = 6.5 };
        var next = HostPlacement.Plan([Holding("a", nudged), Holding("b", nudged), Holding("c", nudged)]);
        Assert.All(plan.ByNode.Keys, n => Assert.Equal(plan.For(n), next.For(n)));

        // m3 becomes as hot as m1 was: it gets a second copy, and some cold model's held copy goes.
        var shifted = new Dictionary<string, double>(Skewed) { ["m3"] = 20, ["m1"] = 3 };
        var moved = HostPlacement.Plan([Holding("a", shifted), Holding("b", shifted), Holding("c", shifted)]);
        Assert.True(moved.Copies("m3") >= 2);
    }

    [Fact]
    public void A_joining_node_receives_models_and_a_leaving_nodes_models_are_placed_again()
    {
        // Two nodes with two slots each hold m1-m4; m5 and m6 fit nowhere.
        var two = HostPlacement.Plan([Node("a", 2, Skewed), Node("b", 2, Skewed)]);
        Assert.Equal(["m5", "m6"], two.Unplaced);

        // c joins, holding nothing: it receives the models nobody could hold, and the others keep theirs.
        var three = HostPlacement.Plan([Node("a", 2, Skewed, [.. two.For("a")]), Node("b", 2, Skewed, [.. two.For("b")]), Node("c", 2, Skewed)]);
        Assert.Equal(["m5", "m6"], three.For("c"));
        Assert.Equal(two.For("a"), three.For("a"));
        Assert.Empty(three.Unplaced);

        // b leaves: its models are placed again, the hottest first, on what a and c can hold.
        var left = HostPlacement.Plan([Node("a", 2, Skewed, [.. three.For("a")]), Node("c", 2, Skewed, [.. three.For("c")])]);
        var lost = three.For("b");
        Assert.Contains(lost.OrderByDescending(m => Skewed[m]).First(), left.ByNode.Values.SelectMany(m => m));
        Assert.Equal(4, left.ByNode.Values.Sum(m => m.Count));
    }

    /// <summary>A node's residency as a test sets it, recording what placement asks of it.</summary>
    private sealed class RecordingResidency(long budgetBytes) : ILocalResidency
    {
        public Dictionary<string, ResidencyTier> Tiers { get; } = Six.ToDictionary(m => m, _ => ResidencyTier.Disk);

        public List<string> Journal { get; } = [];

        public HashSet<string> Busy { get; } = [];

        /// <summary>Models whose host copy is not yet an image and would become one (the device has room).</summary>
        public HashSet<string> Stageable { get; } = [];

        /// <summary>Requests waiting on this node, for every model alike.</summary>
        public int Queued { get; set; }

        public long HostBudgetBytes => budgetBytes;

        public ImmutableArray<ModelResidency> Read() =>
            [.. Tiers.Select(t => new ModelResidency(t.Key, t.Value, Queued, 0, 20, 100 * Mb, Skewed[t.Key] / 3))];

        public Task<bool> TryStageAsync(string model, CancellationToken cancellation)
        {
            if (!Stageable.Remove(model))
            {
                return Task.FromResult(false);
            }

            Journal.Add("stage " + model);
            return Task.FromResult(true);
        }

        public Task PrefetchAsync(string model, CancellationToken cancellation)
        {
            Journal.Add("prefetch " + model);
            Tiers[model] = ResidencyTier.Host;
            return Task.CompletedTask;
        }

        public Task<bool> TryDropAsync(string model, CancellationToken cancellation)
        {
            if (Busy.Contains(model))
            {
                return Task.FromResult(false);
            }

            Journal.Add("drop " + model);
            Tiers[model] = ResidencyTier.Disk;
            return Task.FromResult(true);
        }
    }

    [Fact]
    public async Task A_placed_host_copy_becomes_an_image_one_model_a_pass_and_only_while_nothing_waits_on_the_node()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var view = new ClusterView(time);
        var local = new RecordingResidency(2 * 100 * Mb);
        local.Tiers["m5"] = ResidencyTier.Host; // placed here (below), read earlier: only the file in the page cache
        local.Stageable.UnionWith(["m4", "m5"]);
        var settings = new ClusterSettings { Enabled = true, NodeName = "a", HostBudgetMb = 200, ActAfterPlacements = 1 };
        var service = new HostPlacementService(local, view, MsOptions.Create(settings), time, NullLogger<HostPlacementService>.Instance);
        var cancel = TestContext.Current.CancellationToken;
        void Publish() => view.Update(new ResidencySnapshot(
            [new NodeResidency("a", Silo, "a:9000", DateTime.UtcNow, 1, local.Read(), HostBudgetBytes: local.HostBudgetBytes),
             Node("b", 2, Skewed, "m1", "m2"), Node("c", 2, Skewed, "m3", "m6")], DateTime.UtcNow));

        local.Queued = 1; // a request waits here: a load would hold the pool's transitions from under it
        Publish();
        var busy = await service.ApplyOnceAsync(cancel);
        Assert.Equal(["m4", "m5"], busy.Plan!.For("a"));
        Assert.Equal(["m4"], busy.Prefetched);
        Assert.Null(busy.Staged);

        local.Queued = 0;
        Publish();
        var first = await service.ApplyOnceAsync(cancel);
        Publish();
        var second = await service.ApplyOnceAsync(cancel);
        Publish();
        var third = await service.ApplyOnceAsync(cancel);
        Assert.Equal(["m4", "m5"], new[] { first.Staged, second.Staged }.Order());
        Assert.Null(third.Staged); // both are images now
        Assert.Equal(["prefetch m4", "stage " + first.Staged, "stage " + second.Staged], local.Journal);
    }

    [Fact]
    public async Task A_node_plans_with_what_it_holds_now_not_with_its_own_entry_as_last_published()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var view = new ClusterView(time);
        var local = new RecordingResidency(2 * 100 * Mb);
        local.Tiers["m5"] = ResidencyTier.Device; // a released m6 a moment ago: its last publish still shows m6 held
        var published = local.Read().Select(m => m.Model == "m6" ? m with { Tier = ResidencyTier.Host } : m).ToImmutableArray();
        var m6Wanted = new Dictionary<string, double>(Skewed) { ["m6"] = 5 };
        view.Update(new ResidencySnapshot(
            [new NodeResidency("a", Silo, "a:9000", DateTime.UtcNow, 1, published, HostBudgetBytes: local.HostBudgetBytes),
             Node("b", 2, m6Wanted, "m1", "m2"), Node("c", 2, m6Wanted, "m3", "m6")], DateTime.UtcNow));
        var service = new HostPlacementService(local, view, MsOptions.Create(new ClusterSettings { Enabled = true, NodeName = "a", HostBudgetMb = 200 }),
            time, NullLogger<HostPlacementService>.Instance);

        // By the stale entry, m6's first copy would stay on a (it "holds" it, and has as much room as c; the first name
        // wins the tie), so a would read back what it just released. By what a holds now, c keeps m6 and a gets m4,
        // which nobody holds, beside m5 on its device.
        var pass = await service.ApplyOnceAsync(TestContext.Current.CancellationToken);
        Assert.Equal(["m4", "m5"], pass.Plan!.For("a"));
        Assert.Equal(["m4"], (await service.ApplyOnceAsync(TestContext.Current.CancellationToken)).Prefetched); // the second placement that agrees
    }

    [Fact]
    public async Task A_node_reads_its_placed_models_and_releases_the_others_once_two_placements_agree_but_never_while_stale()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var view = new ClusterView(time);
        var local = new RecordingResidency(2 * 100 * Mb);
        local.Tiers["m6"] = ResidencyTier.Host; // loaded for a request: not placed here
        local.Tiers["m5"] = ResidencyTier.Device; // on the device: never released from under it
        var settings = new ClusterSettings { Enabled = true, NodeName = "a", HostBudgetMb = 200, ActAfterPlacements = 2 };
        var service = new HostPlacementService(local, view, MsOptions.Create(settings), time, NullLogger<HostPlacementService>.Instance);
        var cancel = TestContext.Current.CancellationToken;

        Assert.Same(PlacementPass.Idle, await service.ApplyOnceAsync(cancel)); // no view yet

        // a (a 2-model budget) beside b, holding m1 and m2, and c, holding m3 and m6. Every model gets its copy: m4, held
        // nowhere, goes to a (the most budget left), m5 stays on a (its device), m6 stays on c; so a's m6 is off its plan.
        void Publish() => view.Update(new ResidencySnapshot(
            [new NodeResidency("a", Silo, "a:9000", DateTime.UtcNow, 1, local.Read(), HostBudgetBytes: local.HostBudgetBytes),
             Node("b", 2, Skewed, "m1", "m2"), Node("c", 2, Skewed, "m3", "m6")], DateTime.UtcNow));
        Publish();
        var first = await service.ApplyOnceAsync(cancel);
        Assert.Equal(["m4", "m5"], first.Plan!.For("a"));
        Assert.Empty(first.Dropped.Concat(first.Prefetched)); // one placement said so: nothing moves yet

        Publish();
        var second = await service.ApplyOnceAsync(cancel);
        Assert.Equal(["m6"], second.Dropped);
        Assert.Equal(["m4"], second.Prefetched);
        Assert.Equal(["drop m6", "prefetch m4"], local.Journal);

        Publish(); // settled: nothing more to do
        var third = await service.ApplyOnceAsync(cancel);
        Assert.Empty(third.Dropped.Concat(third.Prefetched));

        // A copy in use is not released: tried again at the next placement.
        local.Tiers["m1"] = ResidencyTier.Host;
        local.Busy.Add("m1");
        Publish();
        await service.ApplyOnceAsync(cancel);
        Publish();
        Assert.Empty((await service.ApplyOnceAsync(cancel)).Dropped);
        local.Busy.Clear();
        Publish();
        Assert.Equal(["m1"], (await service.ApplyOnceAsync(cancel)).Dropped);

        // The view goes stale (no publish for longer than the entry lifetime): a keeps what it has.
        local.Tiers["m2"] = ResidencyTier.Host;
        time.Advance(settings.EntryLifetime + TimeSpan.FromMilliseconds(1));
        var journal = local.Journal.Count;
        Assert.Same(PlacementPass.Idle, await service.ApplyOnceAsync(cancel));
        Assert.Same(PlacementPass.Idle, await service.ApplyOnceAsync(cancel));
        Assert.Equal(journal, local.Journal.Count);
    }
}
