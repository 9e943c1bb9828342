using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Runtime.Forge;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Cluster.Tests;

/// <summary>Real servers (socket door, one forged model) that join a cluster on loopback.</summary>
internal static class ClusterServers
{
    public const string Token = "cluster-test";
    public const string AdminToken = "cluster-admin";
    public const string Model = "tiny";

    private sealed class Chat : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => ("chat", 1f, false);
    }

    /// <summary>Forges the tiny model into a new temporary directory (the caller deletes it).</summary>
    public static (string Directory, string Path) ForgeModel()
    {
        var vocab = TestRepository.RequireLlamaFile(Path.Combine("models", VocabLocator.DefaultFileName(ForgeArchitecture.Llama)));
        var directory = Directory.CreateTempSubdirectory("mr-cluster-").FullName;
        var path = Path.Combine(directory, "tiny.gguf");
        var shape = ForgePresets.TryGet("tiny", out var tiny) ? tiny : throw new InvalidOperationException("no tiny preset");
        ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q8_0) { VocabPath = vocab, Seed = 7 }, path, cancellationToken: TestContext.Current.CancellationToken);
        return (directory, path);
    }

    /// <summary>
    /// A node named <paramref name="node"/>; the first one (no <paramref name="primaryPort"/>) keeps the localhost
    /// membership table. With <paramref name="tcpPort"/> its socket door listens there and is its forward endpoint, so
    /// that the others forward to it; without, it takes no forwarded work.
    /// </summary>
    /// <param name="models">Extra models served from the same file under other names.</param>
    /// <param name="settings">Extra settings, as command-line arguments.</param>
    public static IHost Node(string node, string modelPath, int siloPort, int? primaryPort, int? tcpPort = null, string[]? models = null,
        string[]? settings = null)
    {
        var tcp = "127.0.0.1:" + (tcpPort ?? 0).ToString(CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            "--ModelRouter:Tcp=" + tcp,
            "--ModelRouter:AuthToken=" + Token,
            "--ModelRouter:AdminToken=" + AdminToken,
            "--ModelRouter:DefaultModel=" + Model,
            "--ModelRouter:Models:0:Name=" + Model,
            "--ModelRouter:Models:0:Path=" + modelPath,
            "--ModelRouter:Models:0:Capabilities:0=chat",
            "--ModelRouter:Cluster:Enabled=true",
            "--ModelRouter:Cluster:NodeName=" + node,
            "--ModelRouter:Cluster:ClusterId=servers-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Cluster:SiloPort=" + siloPort.ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Cluster:GatewayPort=" + Loopback.FreePort().ToString(CultureInfo.InvariantCulture),
            "--ModelRouter:Cluster:PublishIntervalMs=200",
            // A long entry lifetime (5 s): on a loaded 2-core CI machine a publish can be late by more than the default
            // four intervals, and a node dropped for a moment would make a routing assertion flaky. Dropping is
            // DirectoryOnLoopbackTests' subject, with its own settings.
            "--ModelRouter:Cluster:EntryLifetimeIntervals=25",
        };
        foreach (var (name, index) in (models ?? []).Select((name, i) => (name, i + 1)))
        {
            var prefix = "--ModelRouter:Models:" + index.ToString(CultureInfo.InvariantCulture);
            args.AddRange([prefix + ":Name=" + name, prefix + ":Path=" + modelPath, prefix + ":Capabilities:0=chat"]);
        }

        if (tcpPort is not null)
        {
            args.Add("--ModelRouter:Cluster:ForwardEndpoint=" + tcp);
        }

        if (primaryPort is { } primary)
        {
            args.Add("--ModelRouter:Cluster:PrimaryNode=127.0.0.1:" + primary.ToString(CultureInfo.InvariantCulture));
        }

        args.AddRange(settings ?? []); // last: a setting given here wins over the defaults above
        var builder = ModelRouterHost.CreateBuilder([.. args], configFile: null, new Chat());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        Assert.True(builder.AddModelRouterCluster());
        return builder.Build();
    }
}
