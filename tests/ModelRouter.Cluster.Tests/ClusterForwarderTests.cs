using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using ModelRouter.Protocol;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime;
using ModelRouter.Server.Options;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace ModelRouter.Cluster.Tests;

/// <summary>When a node forwards and when it takes forwarded work: only while its view of the cluster is fresh.</summary>
public sealed class ClusterForwarderTests
{
    private static readonly SiloAddress Silo = SiloAddress.New(System.Net.IPAddress.Loopback, 11111, 1);
    private static readonly string[] ModelsInOrder = ["m1", "m2", "m3"];

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

    [Fact]
    public async Task The_comparison_policies_deal_requests_round_robin_or_each_model_to_one_node_whatever_they_hold()
    {
        var view = new ClusterView(TimeProvider.System);
        var node = (string name, string model) => new NodeResidency(name, Silo, "127.0.0.1:900" + name[^1], DateTime.UtcNow, 1,
            [new ModelResidency("m1", model == "m1" ? ResidencyTier.Device : ResidencyTier.Disk, 0, 0, 20),
             new ModelResidency("m2", ResidencyTier.Disk, 0, 0, 20), new ModelResidency("m3", ResidencyTier.Disk, 0, 0, 20)]);
        view.Update(new ResidencySnapshot([node("n1", ""), node("n2", "m1"), node("n3", "")], DateTime.UtcNow));
        ClusterForwarder Forwarder(ClusterPolicy policy) => new(view, new ClusterRouter(),
            MsOptions.Create(new ClusterSettings { Enabled = true, NodeName = "n1", Policy = policy }), MsOptions.Create(new ServerOptions()),
            NullLogger<ClusterForwarder>.Instance);

        await using var residency = Forwarder(ClusterPolicy.ResidencyAware);
        await using var roundRobin = Forwarder(ClusterPolicy.RoundRobin);
        await using var partition = Forwarder(ClusterPolicy.StaticPartition);

        Assert.Equal(("n2", "OnDevice"), (residency.Choose("m1")!.Node, residency.Choose("m1")!.Reason));
        Assert.Equal(["n1", "n2", "n3", "n1"], Enumerable.Range(0, 4).Select(_ => roundRobin.Choose("m1")!.Node));
        Assert.Equal(["n1", "n2", "n3"], ModelsInOrder.Select(m => partition.Choose(m)!.Node));
        Assert.Equal("StaticPartition", partition.Choose("m1")!.Reason);
        Assert.Equal(3, partition.NodesInView);
    }

    /// <summary>
    /// A node that completes the handshake and then never answers (hung, or far busier than its entry said): the
    /// forward ends with a timeout error once the first-token bound passes, which the pipeline turns into serving the
    /// request locally; nothing waits without bound.
    /// </summary>
    [Fact]
    public Task A_forward_to_a_node_that_never_sends_a_token_ends_at_the_first_token_bound() => WithHungNodeAsync(firstTokenMs: 300, async (forwarder, _, forward) =>
    {
        var error = await Assert.ThrowsAsync<ForwardException>(forward);

        Assert.Equal(RequestError.Timeout, error.Error);
        Assert.Contains("no token within 300 ms", error.Message, StringComparison.Ordinal);
    });

    /// <summary>
    /// The same hung node, declared dead by membership (it leaves the view) long before the first-token bound: the open
    /// forward ends at once, as not started, so the pipeline serves the request here.
    /// </summary>
    [Fact]
    public Task A_forward_still_open_when_its_node_leaves_the_view_ends_at_once() => WithHungNodeAsync(firstTokenMs: 120_000, async (forwarder, view, forward) =>
    {
        var pending = forward();
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.False(pending.IsCompleted);

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        view.Update(new ResidencySnapshot([], DateTime.UtcNow)); // membership dropped b
        var error = await Assert.ThrowsAsync<ForwardException>(() => pending);

        Assert.Equal(RequestError.ModelUnavailable, error.Error);
        Assert.Contains("node b left the cluster", error.Message, StringComparison.Ordinal);
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30));
    });

    /// <summary>
    /// Node b (a socket that answers the handshake and nothing else) with the model on its device in a's view; runs
    /// <paramref name="test"/> with a's forwarder, its view and a function that forwards one request to b to its end.
    /// </summary>
    private static async Task WithHungNodeAsync(int firstTokenMs, Func<ClusterForwarder, ClusterView, Func<Task>, Task> test)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        var hung = HangAfterHandshakeAsync(listener);
        var view = new ClusterView(TimeProvider.System);
        view.Update(new ResidencySnapshot(
            [new NodeResidency("b", Silo, endpoint.ToString(), DateTime.UtcNow, 1, [new ModelResidency("m", ResidencyTier.Device, 0, 0, 20)])], DateTime.UtcNow));
        var settings = new ClusterSettings { Enabled = true, NodeName = "a", ForwardFirstTokenTimeoutMs = firstTokenMs };
        var forwarder = new ClusterForwarder(view, new ClusterRouter(), MsOptions.Create(settings), MsOptions.Create(new ServerOptions()),
            NullLogger<ClusterForwarder>.Instance);
        try
        {
            var target = forwarder.Choose("m")!;
            await test(forwarder, view, async () =>
            {
                await foreach (var _ in forwarder.ForwardAsync(target, new GenerationCommand { Prompt = "hi" }, "m", TestContext.Current.CancellationToken))
                {
                }
            });
        }
        finally
        {
            await forwarder.DisposeAsync(); // closes the pooled connection: the hung node sees the client leave
            await hung.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Accepts one connection, answers hello with hello-ok, then reads and ignores everything until the client leaves.</summary>
    private static async Task HangAfterHandshakeAsync(TcpListener listener)
    {
        using var socket = await listener.AcceptSocketAsync(TestContext.Current.CancellationToken);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = PipeReader.Create(stream);
        var writer = PipeWriter.Create(stream);
        var greeted = false;
        while (true)
        {
            var read = await reader.ReadAsync(TestContext.Current.CancellationToken);
            var buffer = read.Buffer;
            while (FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame))
            {
                if (!greeted && frame.Type == FrameType.Hello)
                {
                    FrameWriter.WriteHelloOk(writer, ServerHello.FromLimits(ProtocolLimits.Default, isAdmin: false, 1, "hung", ProtocolConstants.HighestVersion));
                    await writer.FlushAsync(TestContext.Current.CancellationToken);
                    greeted = true;
                }
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted)
            {
                return;
            }
        }
    }
}
