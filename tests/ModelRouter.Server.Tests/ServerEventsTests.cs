using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Tests;

/// <summary>The dashboard's rings without a server: bounds, cursors, the change signal, decisions and their ends.</summary>
public sealed class ServerEventsTests
{
    private static PoolSwap Swap(int i) => new("m" + (i % 3), i % 2 == 0 ? PoolSwapKind.Restore : PoolSwapKind.Evict, ModelTier.Warm, TimeSpan.FromMilliseconds(i), 1000);

    private static RouteResult Decision(string model) => new(model, "chat", 0.9f, false, TimeSpan.FromMicroseconds(12), [model], []) { Policy = "hybrid" };

    private static GenerationDone Done(string task) =>
        new("m0", task, FinishReason.MaxTokens, 3, 4, 100, TimeSpan.Zero, TimeSpan.FromMilliseconds(2), null, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(9));

    [Fact]
    public void The_swap_ring_keeps_the_newest_in_order_and_reads_only_what_follows_a_cursor()
    {
        var events = new ServerEvents();
        for (var i = 1; i <= ServerEvents.SwapCapacity + 10; i++)
        {
            events.OnSwapped(Swap(i));
        }

        var all = new List<SwapRecord>();
        events.CopySwaps(0, all);
        var after = new List<SwapRecord>();
        events.CopySwaps(events.LastSwapSeq - 3, after);

        Assert.Equal(Enumerable.Range(11, ServerEvents.SwapCapacity).Select(i => (long)i), all.Select(r => r.Seq));
        Assert.Equal(all.Select(r => r.Swap.Duration.TotalMilliseconds), all.Select(r => (double)r.Seq));
        Assert.Equal([events.LastSwapSeq - 2, events.LastSwapSeq - 1, events.LastSwapSeq], after.Select(r => r.Seq));
    }

    [Fact]
    public void Changed_completes_at_the_next_record_and_not_before()
    {
        var events = new ServerEvents();
        var changed = events.Changed;
        Assert.Same(changed, events.Changed);
        Assert.False(changed.IsCompleted);

        events.OnSwapped(Swap(1));

        Assert.True(changed.IsCompletedSuccessfully);
        Assert.False(events.Changed.IsCompleted); // a fresh one for the next wait
    }

    [Fact]
    public void A_decision_is_ended_by_its_own_request_only()
    {
        var events = new ServerEvents();
        events.Routed(7, "Write a poem", Decision("m0"), RouteHints.None);
        events.Routed(8, "Fix this code", Decision("m1"), new RouteHints { RequiredCapability = "code" });
        var version = events.RouteVersion;

        events.Finished(9, Done("")); // not routed: no decision of its own
        events.Failed(10, RequestError.Overloaded); // refused before routing
        Assert.Equal(version, events.RouteVersion);

        events.Finished(7, Done("chat"));
        events.Failed(8, RequestError.ModelUnavailable);
        var routes = new List<RouteRecord>();
        events.CopyRoutes(routes);

        Assert.Equal([8UL, 7UL], routes.Select(r => r.RequestId)); // newest first
        Assert.Equal(("capability", "error: ModelUnavailable", (string?)null), (routes[0].Stage, routes[0].Outcome, routes[0].ServedBy));
        Assert.Equal(("classifier", "length", "m0", 4), (routes[1].Stage, routes[1].Outcome, routes[1].ServedBy, routes[1].Tokens));
        Assert.Equal(TimeSpan.FromMilliseconds(9), routes[1].Total);
        Assert.Equal("hybrid", routes[1].Policy);
        Assert.True(events.RouteVersion > version);
    }

    [Fact]
    public void The_decision_ring_keeps_the_newest_and_an_unsure_decision_is_the_default_stage()
    {
        var events = new ServerEvents();
        for (var i = 1; i <= ServerEvents.RouteCapacity + 5; i++)
        {
            events.Routed((ulong)i, "p" + i, Decision("m0") with { Unsure = i % 2 == 0 }, RouteHints.None);
        }

        var routes = new List<RouteRecord>();
        events.CopyRoutes(routes);

        Assert.Equal(ServerEvents.RouteCapacity, routes.Count);
        Assert.Equal((ulong)(ServerEvents.RouteCapacity + 5), routes[0].RequestId);
        Assert.Equal(6UL, routes[^1].RequestId);
        Assert.Equal("default", routes.Single(r => r.RequestId == 10).Stage);
    }

    [Fact]
    public void An_excerpt_is_cut_to_its_length_without_splitting_a_surrogate_pair()
    {
        var text = new string('a', ServerEvents.ExcerptChars - 1) + "😀 and more";

        Assert.Equal(new string('a', ServerEvents.ExcerptChars - 1) + "…", ServerEvents.Excerpt(text));
        Assert.Equal("short", ServerEvents.Excerpt("short"));
    }

    [Fact]
    public void Queue_samples_keep_five_minutes_and_name_each_model()
    {
        var events = new ServerEvents();
        var views = new List<ModelView>
        {
            new("m0", ModelTierView.Device, ModelStateView.Ready, ModelRouter.Routing.Policies.LatencyClass.Interactive, false, 10, 0, 2, 3, []),
            new("m1", ModelTierView.Host, ModelStateView.Unloaded, ModelRouter.Routing.Policies.LatencyClass.Interactive, false, 10, 0, 0, 1, []),
        };
        for (var i = 0; i < ServerEvents.SampleCapacity + 1; i++)
        {
            events.Sample(views);
        }

        var samples = new List<QueueSample>();
        events.CopySamples(0, samples);

        Assert.Equal(ServerEvents.SampleCapacity, samples.Count);
        Assert.Equal(2L, samples[0].Seq);
        Assert.Equal(["m0", "m1"], samples[^1].Models);
        Assert.Equal([3, 1], samples[^1].Queued);
        Assert.Equal([2, 0], samples[^1].InFlight);
    }
}
