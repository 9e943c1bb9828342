using ModelRouter.Cli.Simulation;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Tests.Simulation;

/// <summary>The simulator's multi-node mode: the cluster's router against round-robin and static partitioning.</summary>
[Collection(SimulationRunsAlone.Name)]
public sealed class ClusterSimulationTests
{
    private static IReadOnlyList<TraceRequest> Trace(SwapProfile profile) => SyntheticTrace.Generate(profile.Models.Select(m => m.Model).ToList(),
        new SyntheticTraceOptions { Requests = 300, RatePerSecond = 1.5, Seed = 3 });

    [Fact]
    public void Residency_aware_routing_swaps_far_less_than_round_robin_on_the_same_trace_and_nodes()
    {
        var profile = SwapProfile.H100Estimate(6);
        var trace = Trace(profile);
        var budget = (long)(profile.Models.Sum(m => m.WeightBytes) * 0.4);
        var options = new SchedulerOptions { MaxBatchPerModel = 8 };

        var ours = ClusterSimulation.Run("cluster-residency", profile, trace, 3, budget, options, TimeSpan.FromMilliseconds(500));
        var roundRobin = ClusterSimulation.Run("round-robin", profile, trace, 3, budget, options, TimeSpan.FromMilliseconds(500));

        Assert.Equal(0, ours.Failed);
        Assert.Equal(0, roundRobin.Failed);
        Assert.True(ours.Swaps * 3 <= roundRobin.Swaps, $"ours {ours.Swaps} swaps, round-robin {roundRobin.Swaps}");
    }

    [Fact]
    public void With_host_tiers_smaller_than_the_catalog_round_robin_pays_file_loads_and_residency_aware_routing_does_not()
    {
        var profile = SwapProfile.H100Estimate(6);
        var trace = Trace(profile);
        var budget = (long)(profile.Models.Sum(m => m.WeightBytes) * 0.4);
        var hostBudget = profile.Models.Select(m => m.WeightBytes).OrderDescending().Take(2).Sum(); // two models' weights per node
        var options = new SchedulerOptions { MaxBatchPerModel = 8 };
        PolicyRun Run(string policy, long host) => ClusterSimulation.Run(policy, profile, trace, 3, budget, options, TimeSpan.FromMilliseconds(500), host);

        var roundRobin = Run("round-robin", 0);
        var roundRobinPlaced = Run("round-robin", hostBudget);
        var oursPlaced = Run("cluster-residency", hostBudget);

        // The same swaps, but some of them now read a model its node does not hold from the file.
        Assert.True(roundRobinPlaced.SwapTime > roundRobin.SwapTime * 1.5, $"round-robin swap time {roundRobinPlaced.SwapTime} with placement, {roundRobin.SwapTime} without");
        Assert.Equal(0, oursPlaced.Failed);
        Assert.True(oursPlaced.Ttft(95) * 3 < roundRobinPlaced.Ttft(95), $"p95 ours {oursPlaced.Ttft(95):F0} ms, round-robin {roundRobinPlaced.Ttft(95):F0} ms");
    }

    [Fact(Timeout = 120_000)]
    public async Task A_yielded_worker_waiting_less_than_a_millisecond_for_a_starving_model_does_not_stop_the_clock()
    {
        // This run once hung at 15:38.8 of virtual time: Scheduler.WaitWhileOthersStarveAsync asked Task.Delay for 0.x ms,
        // which counts whole milliseconds and completed at once, so the worker spun and the clock never moved on.
        var profile = SwapProfile.H100Estimate(8);
        var trace = SyntheticTrace.Generate(profile.Models.Select(m => m.Model).ToList(), new SyntheticTraceOptions { Requests = 2000, RatePerSecond = 1.5, Seed = 42 });
        var hostBudget = profile.Models.Select(m => m.WeightBytes).OrderDescending().Take(2).Sum();
        var run = await Task.Run(() => ClusterSimulation.Run("round-robin", profile, trace, 3, (long)18e9, new SchedulerOptions { MaxBatchPerModel = 8 },
            TimeSpan.FromMilliseconds(500), hostBudget), TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(100), TestContext.Current.CancellationToken);

        Assert.Equal(0, run.Failed);
        Assert.Equal(2000, run.TtftMs.Count(t => !double.IsNaN(t)));
    }

    [Fact]
    public void One_node_gives_every_placement_the_single_box_answer()
    {
        var profile = SwapProfile.H100Estimate(4);
        var trace = Trace(profile);
        var budget = (long)(profile.Models.Sum(m => m.WeightBytes) * 0.4);
        var single = SchedulerSimulation.Run(profile, trace, budget, new SchedulerOptions());

        foreach (var policy in ClusterSimulation.Policies)
        {
            var run = ClusterSimulation.Run(policy, profile, trace, 1, budget, new SchedulerOptions(), TimeSpan.FromMilliseconds(500));
            Assert.Equal(single.TtftMs, run.TtftMs);
            Assert.Equal(single.Swaps, run.Swaps);
        }
    }

    [Fact]
    public void An_unknown_policy_is_refused_by_name()
    {
        var profile = SwapProfile.H100Estimate(2);
        var error = Assert.Throws<ArgumentException>(() => ClusterSimulation.Run("random", profile, Trace(profile), 2, 1, new SchedulerOptions(), TimeSpan.Zero));
        Assert.Contains("round-robin", error.Message, StringComparison.Ordinal);
    }
}
