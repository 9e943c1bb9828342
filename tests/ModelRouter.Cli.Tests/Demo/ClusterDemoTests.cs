using ModelRouter.Cli.Demo;
using ModelRouter.Cluster;
using ModelRouter.Runtime.Forge;

namespace ModelRouter.Cli.Tests.Demo;

/// <summary>
/// `modelrouter demo --nodes 2`, small: two real `serve` processes per policy, a short trace, the second node killed
/// with SIGKILL at 60%. Checks where requests ran, not how fast (timings are the benchmark's, in docs/cluster.md).
/// </summary>
public sealed class ClusterDemoTests
{
    /// <summary>Runs <paramref name="test"/> in a new temporary directory (deleted after); skips where the models cannot be forged.</summary>
    private static async Task InTemporaryDirectoryAsync(Func<string, Task> test)
    {
        if (VocabLocator.FindDefault(ForgeArchitecture.Llama) is null)
        {
            Assert.Skip("No ggml-vocab-llama.gguf to forge the cluster demo's models: run ./build.sh native to fetch the pinned llama.cpp source.");
        }

        var directory = Directory.CreateTempSubdirectory("mr-cluster-demo-").FullName;
        try
        {
            await test(directory);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = 600_000)]
    public Task Requests_run_on_known_nodes_with_a_reason_and_after_a_kill_only_on_the_survivor() => InTemporaryDirectoryAsync(async directory =>
    {
        var settings = new ClusterDemoSettings(directory, Nodes: 2, Requests: 16, RatePerSecond: 4, Users: 4, Seed: 5, Kill: true,
            [ClusterPolicy.ResidencyAware, ClusterPolicy.RoundRobin]);
        using var output = new StringWriter();
        var results = await new ClusterDemoRunner(settings, output, TextWriter.Null).RunAsync(TestContext.Current.CancellationToken);

        Assert.Equal(2, results.Count);
        foreach (var result in results)
        {
            Assert.Equal(16, result.Requests.Count);
            Assert.NotNull(result.KilledAt);
            var served = result.Requests.Where(r => !r.Failed).ToList();
            Assert.NotEmpty(served);
            Assert.All(served, r => Assert.Contains(r.Node, (string[])["a", "b"]));
            Assert.All(served, r => Assert.False(string.IsNullOrEmpty(r.Placement), $"request {r.Index} ran on {r.Node} without a reason"));

            // Sent after b died: whatever the entry node's view still said, it ran on a (or was lost), never on b.
            Assert.All(result.Requests.Where(r => r.Sent > result.KilledAt!.Value && !r.Failed), r => Assert.Equal("a", r.Node));
        }

        // Round-robin deals requests out whatever their entry node: some ran on the node they did not enter.
        Assert.Contains(results[1].Requests, r => !r.Failed && r.Node != r.Entry);
        Assert.All(results[1].Requests.Where(r => !r.Failed && r.Sent < results[1].KilledAt!.Value),
            r => Assert.True(r.Placement == "RoundRobin" || r.Placement.StartsWith("ServedHere", StringComparison.Ordinal), r.Placement));
        Assert.Contains("residency-aware", output.ToString(), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(directory, "cluster-demo.csv")));
    });

    [Fact(Timeout = 600_000)]
    public Task A_node_killed_under_load_with_host_placement_on_rejoins_when_restarted_and_nothing_runs_on_it_while_it_is_down() =>
        InTemporaryDirectoryAsync(async directory =>
    {
        // Three of the six models in each node's host tier: the placement decides which, live, in both processes.
        var settings = new ClusterDemoSettings(directory, Nodes: 2, Requests: 40, RatePerSecond: 4, Users: 4, Seed: 5, Kill: true,
            [ClusterPolicy.ResidencyAware], Restart: true, HostModels: 3);
        var result = (await new ClusterDemoRunner(settings, TextWriter.Null, TextWriter.Null).RunAsync(TestContext.Current.CancellationToken)).Single();

        Assert.NotNull(result.KilledAt);
        Assert.NotNull(result.RestartedAt);
        Assert.True(result.RejoinedAfterMs is not null, "the restarted node did not rejoin the first node's view within 60 s");
        Assert.All(result.Requests.Where(r => !r.Failed), r => Assert.Contains(r.Node, (string[])["a", "b"]));
        Assert.All(result.Requests.Where(r => r.Sent > result.KilledAt!.Value && r.Sent < result.RestartedAt!.Value && !r.Failed),
            r => Assert.Equal("a", r.Node));
        Assert.True(result.Lost <= 4, $"{result.Lost} requests lost: at most those in flight on the killed node's own connections");
    });
}
