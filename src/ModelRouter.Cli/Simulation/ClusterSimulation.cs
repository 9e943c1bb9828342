using System.Collections.Immutable;
using System.Net;
using ModelRouter.Cluster;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;
using Orleans.Runtime;

namespace ModelRouter.Cli.Simulation;

/// <summary>
/// The simulator's multi-node mode (issue 21): several boxes, each the real scheduler and pool on the same virtual
/// clock (<see cref="SchedulerSimulation.RunNodes"/>), every model in every node's host tier unless a host budget puts
/// the cluster's host placement in charge of those, and a policy that places
/// each request on a node:
/// <list type="bullet">
/// <item><c>cluster-residency</c>: ours, the cluster's own <see cref="ClusterRouter"/> on a directory built the way the
/// nodes publish it (<see cref="ServerResidency"/>: tier, queue, swap and TTFT estimates from each node's pool and
/// scheduler), rebuilt every publish interval of virtual time, so the routing sees it as stale as a live node does;</item>
/// <item><c>round-robin</c>: a plain load balancer, request i to node i mod n;</item>
/// <item><c>static-partition</c>: each model always on one node (model index mod n).</item>
/// </list>
/// </summary>
public static class ClusterSimulation
{
    public static readonly string[] Policies = ["cluster-residency", "round-robin", "static-partition"];

    /// <param name="budgetBytes">Each node's device memory for weights.</param>
    /// <param name="publishInterval">How old the directory may get before it is rebuilt (the cluster's PublishIntervalMs).</param>
    /// <param name="hostBudgetBytes">
    /// Each node's host tier, placed by the cluster's <see cref="HostPlacement"/> under every policy alike (0: every model
    /// in every node's host tier). A model a node does not hold is restored from its file (the profile's reload time).
    /// </param>
    public static PolicyRun Run(string policy, SwapProfile profile, IReadOnlyList<TraceRequest> trace, int nodes, long budgetBytes,
        SchedulerOptions options, TimeSpan publishInterval, long hostBudgetBytes = 0)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
        var modelIndex = profile.Models.Select((m, i) => (m.Model, i)).ToDictionary(p => p.Model, p => p.i, StringComparer.Ordinal);
        Func<IReadOnlyList<SchedulerSimulation.SimulatedNode>, int, TraceRequest, int> place = policy switch
        {
            "round-robin" => (_, i, _) => i % nodes,
            "static-partition" => (_, _, r) => modelIndex[r.Model] % nodes,
            "cluster-residency" => new ResidencyPlacement(profile, options, publishInterval).Place,
            _ => throw new ArgumentException($"Unknown cluster policy '{policy}' (known: {string.Join(", ", Policies)}).", nameof(policy)),
        };
        if (hostBudgetBytes > 0)
        {
            var placement = new SimulatedHostPlacement(profile, options, publishInterval, hostBudgetBytes);
            var route = place;
            place = (all, index, request) =>
            {
                placement.Apply(all, request.Arrival);
                return route(all, index, request);
            };
        }

        return SchedulerSimulation.RunNodes(policy, profile, trace, budgetBytes, options, nodes, place);
    }

    /// <summary>
    /// The cluster's host placement on simulated nodes: every publish interval of virtual time, the plan of
    /// <see cref="HostPlacement"/> on the directory as the nodes would publish it (their demand averaged on the virtual
    /// clock), applied at once. Simplified against the live nodes: no ActAfterPlacements hysteresis, and a read into
    /// the host tier costs no device time (it is a page-cache read beside the device).
    /// </summary>
    private sealed class SimulatedHostPlacement(SwapProfile profile, SchedulerOptions options, TimeSpan publishInterval, long hostBudgetBytes)
    {
        private ServerResidency[]? residencies;
        private TimeSpan? appliedAt;

        public void Apply(IReadOnlyList<SchedulerSimulation.SimulatedNode> nodes, TimeSpan now)
        {
            if (appliedAt is { } applied && now - applied < publishInterval)
            {
                return;
            }

            appliedAt = now;
            residencies ??= Residencies(nodes, profile, options, hostBudgetBytes);
            var plan = HostPlacement.Plan(Publish(nodes, residencies, now, 0).Nodes);
            foreach (var node in nodes)
            {
                var mine = plan.For(Name(node));
                foreach (var (model, store) in node.Stores.Stores)
                {
                    store.Place(mine.Contains(model));
                }
            }
        }
    }

    private static string Name(SchedulerSimulation.SimulatedNode node) => "node-" + node.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Each node's residency as its publisher reads it, with the availability settings of the profile and demand on the virtual clock.</summary>
    private static ServerResidency[] Residencies(IReadOnlyList<SchedulerSimulation.SimulatedNode> nodes, SwapProfile profile, SchedulerOptions options,
        long hostBudgetBytes) =>
        [.. nodes.Select(n => new ServerResidency(n.Pool, () => n.Scheduler,
            new ServerModelAvailability(n.Pool, n.Scheduler.WaitingFor, options.MaxBatchPerModel, ResidencyPlacement.Availability(profile)), hostBudgetBytes, n.Clock))];

    /// <summary>The directory as every node would publish it at <paramref name="now"/> (one read of each node's residency).</summary>
    private static ResidencySnapshot Publish(IReadOnlyList<SchedulerSimulation.SimulatedNode> nodes, ServerResidency[] residencies, TimeSpan now, long sequence) =>
        new([.. nodes.Select(n => new NodeResidency(Name(n), SiloAddress.New(IPAddress.Loopback, 11111 + n.Index, 1), null, DateTime.UnixEpoch + now, sequence,
            residencies[n.Index].Read(), residencies[n.Index].DeviceFreeBytes, residencies[n.Index].HostBudgetBytes))], DateTime.UnixEpoch + now);

    /// <summary>Ours: the directory as the nodes would publish it, and the cluster's router on it.</summary>
    private sealed class ResidencyPlacement(SwapProfile profile, SchedulerOptions options, TimeSpan publishInterval)
    {
        private readonly ClusterRouter router = new();
        private ServerResidency[]? residencies;
        private string[]? names;
        private ResidencySnapshot directory = ResidencySnapshot.Empty;
        private TimeSpan? builtAt;

        public int Place(IReadOnlyList<SchedulerSimulation.SimulatedNode> nodes, int index, TraceRequest request)
        {
            residencies ??= Residencies(nodes, profile, options, hostBudgetBytes: 0);
            names ??= nodes.Select(Name).ToArray();
            if (builtAt is not { } built || request.Arrival - built >= publishInterval)
            {
                builtAt = request.Arrival;
                directory = Publish(nodes, residencies, request.Arrival, index);
            }

            return router.Choose(request.Model, directory) is { } route ? Array.IndexOf(names, route.Node) : index % nodes.Count;
        }

        /// <summary>
        /// The availability model's settings for this profile, as an operator would set them for that hardware: a
        /// request's service and prompt time (512 prompt and 64 output tokens) and the host-to-device bandwidth as the
        /// profile costs them (a node's estimate uses its last measured restore once it has one).
        /// </summary>
        internal static AvailabilitySettings Availability(SwapProfile profile) => new()
        {
            ServiceTimeMs = (int)Math.Ceiling(profile.Models.Average(m => m.PrefillMs(512) + (64 * m.DecodeStepMs(1)))),
            PromptMs = (int)Math.Ceiling(profile.Models.Average(m => m.PrefillMs(512))),
            HostBandwidthMBps = Math.Max(1, (int)(profile.Models.Average(m => m.WeightBytes / Math.Max(m.RestoreMs, 1e-3)) * 1000 / 1e6)),
        };
    }
}
