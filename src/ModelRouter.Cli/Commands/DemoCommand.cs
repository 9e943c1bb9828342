using System.CommandLine;
using ModelRouter.Cli.Demo;
using ModelRouter.Client;
using ModelRouter.Runtime;

namespace ModelRouter.Cli.Commands;

/// <summary>`modelrouter demo`: the embedded main job (what `./build.sh run` runs).</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var clients = new Option<int>("--clients") { Description = "Concurrent clients.", DefaultValueFactory = _ => 8 };
        var requests = new Option<int>("--requests") { Description = "Requests per client.", DefaultValueFactory = _ => 3 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens generated per request.", DefaultValueFactory = _ => 24 };
        var work = new Option<string>("--dir") { Description = "Where forged models, config and router file go.", DefaultValueFactory = _ => Path.Combine("artifacts", "demo") };
        var data = new Option<string>("--data") { Description = "Folder with routes.jsonl (router training utterances) and prompts.jsonl.", DefaultValueFactory = _ => "demo" };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Keep the server running after the demo (Ctrl+C stops it), to try the printed curl line or an OpenAI client." };
        var nodes = new Option<int>("--nodes") { Description = "2 or more: the cluster demo instead: that many servers (one process each) on loopback, a skewed multi-user trace under each placement policy, one node killed at 60% (docs/cluster.md).", DefaultValueFactory = _ => 1 };
        var traceRequests = new Option<int>("--trace-requests") { Description = "Cluster demo: requests in the trace.", DefaultValueFactory = _ => 150 };
        var rate = new Option<double>("--rate") { Description = "Cluster demo: mean arrivals per second.", DefaultValueFactory = _ => 1.5 };
        var users = new Option<int>("--users") { Description = "Cluster demo: users, each connected to one node.", DefaultValueFactory = _ => 12 };
        var seed = new Option<int>("--seed") { Description = "Cluster demo: the trace's seed.", DefaultValueFactory = _ => 42 };
        var noKill = new Option<bool>("--no-kill") { Description = "Cluster demo: kill no node." };
        var silent = new Option<bool>("--silent") { Description = "Cluster demo: stop the node (SIGSTOP: hung, connections open) instead of killing it, to measure the probe timeout." };
        var restart = new Option<bool>("--restart") { Description = "Cluster demo: start the killed node again at 80% of the trace (it rejoins with its models not loaded)." };
        var perNode = new Option<int>("--models-per-node") { Description = "Cluster demo: models each node's device holds at once.", DefaultValueFactory = _ => 2 };
        var hostModels = new Option<int>("--host-models") { Description = "Cluster demo: models each node's host tier holds (the cluster's host placement decides which); 0: every model on every node.", DefaultValueFactory = _ => 0 };
        var policies = new Option<string>("--policies") { Description = "Cluster demo: comma-separated policies, the first printed request by request: residency-aware, round-robin, static-partition.", DefaultValueFactory = _ => "residency-aware,round-robin,static-partition" };
        var command = new Command("demo", "Forge a demo catalog, start the server, and run concurrent clients with mixed, routed tasks over the socket and HTTP doors; with --nodes N, the same on a cluster of N servers.")
        {
            clients, requests, maxTokens, work, data, keepRunning, nodes, traceRequests, rate, users, seed, noKill, policies, perNode, silent, restart, hostModels,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            if (parse.GetValue(nodes) is var nodeCount && nodeCount != 1)
            {
                return await RunClusterAsync(nodeCount, parse.GetValue(work)!, parse.GetValue(traceRequests), parse.GetValue(rate), parse.GetValue(users),
                    parse.GetValue(seed), !parse.GetValue(noKill), parse.GetValue(policies)!, parse.GetValue(perNode), parse.GetValue(silent), parse.GetValue(restart),
                    parse.GetValue(hostModels), cancellation).ConfigureAwait(false);
            }

            var dataDir = parse.GetValue(data)!;
            var settings = new DemoSettings(parse.GetValue(work)!, Path.Combine(dataDir, "routes.jsonl"), Path.Combine(dataDir, "prompts.jsonl"),
                parse.GetValue(clients), parse.GetValue(requests), parse.GetValue(maxTokens), parse.GetValue(keepRunning));
            if (settings.Clients < 1 || settings.RequestsPerClient < 1 || settings.MaxTokens < 1)
            {
                Console.Error.WriteLine("error: --clients, --requests and --max-tokens must be at least 1");
                return 2;
            }

            if (!File.Exists(settings.RoutesFile) || !File.Exists(settings.PromptsFile))
            {
                Console.Error.WriteLine($"error: {settings.RoutesFile} or {settings.PromptsFile} is missing (run from the repository root, or pass --data)");
                return 2;
            }

            try
            {
                return await new DemoRunner(settings, Console.Out, Console.Error).RunAsync(cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidModelFileException or ModelRouterException or IOException or InvalidDataException or HttpRequestException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return 1;
            }
        });
        return command;
    }

    private static async Task<int> RunClusterAsync(int nodes, string work, int requests, double rate, int users, int seed, bool kill,
        string policyList, int modelsPerNode, bool silent, bool restart, int hostModels, CancellationToken cancellation)
    {
        var policies = new List<Cluster.ClusterPolicy>();
        foreach (var name in policyList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Cluster.ClusterPolicy? policy = name switch
            {
                "residency-aware" => Cluster.ClusterPolicy.ResidencyAware,
                "round-robin" => Cluster.ClusterPolicy.RoundRobin,
                "static-partition" => Cluster.ClusterPolicy.StaticPartition,
                _ => null,
            };
            if (policy is null)
            {
                Console.Error.WriteLine($"error: --policies: unknown policy '{name}' (residency-aware, round-robin, static-partition)");
                return 2;
            }

            policies.Add(policy.Value);
        }

        if (nodes is < 2 or > 8 || requests < 1 || !(rate > 0) || users < 1 || policies.Count == 0 || modelsPerNode is < 1 or > 5
            || hostModels < 0 || (hostModels > 0 && hostModels < modelsPerNode))
        {
            Console.Error.WriteLine("error: --nodes 2-8, --models-per-node 1-5, --host-models 0 or at least --models-per-node, and --trace-requests, --rate, --users and --policies must be positive");
            return 2;
        }

        try
        {
            Directory.CreateDirectory(Path.Combine(work, "cluster"));
            var settings = new ClusterDemoSettings(Path.Combine(work, "cluster"), nodes, requests, rate, users, seed, kill, policies, modelsPerNode, silent, restart, hostModels);
            await new ClusterDemoRunner(settings, Console.Out, Console.Error).RunAsync(cancellation).ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is InvalidModelFileException or ModelRouterException or IOException or InvalidOperationException)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return 1;
        }
    }
}
