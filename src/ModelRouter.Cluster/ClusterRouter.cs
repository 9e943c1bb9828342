using System.Collections.Concurrent;

namespace ModelRouter.Cluster;

/// <summary>Why a request went to a node, for logs, the demo's printout and a request's stats.</summary>
public enum RouteReason
{
    /// <summary>The model is on that node's device.</summary>
    OnDevice,

    /// <summary>
    /// That node is bringing the model onto its device for requests already queued there: this one joins them and shares
    /// the swap instead of starting a second load elsewhere.
    /// </summary>
    Loading,

    /// <summary>No node has it on the device; that node holds it in host RAM, with the cheapest swap-in.</summary>
    InHostRam,

    /// <summary>No node holds it in memory; that node is the least loaded of those that can load it.</summary>
    LeastLoaded,

    /// <summary>The node that served the model last still does nearly as well as the best: kept, so bursts do not bounce the model between nodes.</summary>
    Kept,
}

/// <summary>A routing decision: where, why, and the directory entry it was based on.</summary>
public sealed record ClusterRoute(string Node, string? ForwardEndpoint, RouteReason Reason, ResidencyTier Tier, double EstimatedTtftMs);

/// <summary>Tuning of <see cref="ClusterRouter"/>.</summary>
public sealed record ClusterRoutingOptions
{
    /// <summary>A node at or past this queue depth for the model ranks one tier lower (a busy device is worse than an idle host tier).</summary>
    public int SpillQueueDepth { get; init; } = 8;

    /// <summary>Hysteresis: the last node stays while its estimate is within this factor of the best one...</summary>
    public double KeepWithinFactor { get; init; } = 1.5;

    /// <summary>...or within this many milliseconds of it (small estimates differ by noise).</summary>
    public double KeepWithinMs { get; init; } = 25;
}

/// <summary>
/// Chooses the node for a request across the cluster, from the residency directory: a node with the model on its
/// device first, then one with it in host RAM, then the node that can load it from disk; on the device the lowest
/// estimated time to first token wins, elsewhere the least-loaded node (then the cheapest swap-in). Hysteresis keeps the
/// device node that served the model last while it stays close to the best estimate, so that a burst does not move a
/// model from node to node.
/// Thread-safe; the only state is the last node per model.
/// </summary>
public sealed class ClusterRouter(ClusterRoutingOptions? options = null)
{
    private readonly ClusterRoutingOptions options = options ?? new ClusterRoutingOptions();
    private readonly ConcurrentDictionary<string, string> lastNode = new(StringComparer.Ordinal);

    /// <summary>
    /// The node for <paramref name="model"/>, or null when no live node serves it. With <paramref name="localNode"/>
    /// (a live node routing for its doors) only nodes a request can reach count: that node itself, and those that
    /// publish a forward endpoint.
    /// </summary>
    public ClusterRoute? Choose(string model, ResidencySnapshot directory, string? localNode = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(directory);
        NodeResidency? bestNode = null;
        ModelResidency? best = null;
        var bestRank = int.MaxValue;
        NodeResidency? keptNode = null;
        ModelResidency? kept = null;
        var keptRank = int.MaxValue;
        lastNode.TryGetValue(model, out var last);
        foreach (var node in directory.Nodes)
        {
            if (node.Find(model) is not { } entry
                || (localNode is not null && node.ForwardEndpoint is null && !string.Equals(node.Node, localNode, StringComparison.Ordinal)))
            {
                continue;
            }

            var rank = Rank(entry);
            if (bestNode is null || rank < bestRank || (rank == bestRank && Better(node, entry, bestNode, best!)))
            {
                (bestNode, best, bestRank) = (node, entry, rank);
            }

            if (string.Equals(node.Node, last, StringComparison.Ordinal))
            {
                (keptNode, kept, keptRank) = (node, entry, rank);
            }
        }

        if (bestNode is null || best is null)
        {
            return null;
        }

        // Hysteresis between device nodes only: a node is kept for the model it holds, never for one it would load.
        var keep = keptNode is not null && kept is not null && !ReferenceEquals(keptNode, bestNode) && keptRank == bestRank
            && best.Tier == ResidencyTier.Device && kept.Tier == ResidencyTier.Device
            && (kept.EstimatedTtftMs <= best.EstimatedTtftMs * options.KeepWithinFactor || kept.EstimatedTtftMs - best.EstimatedTtftMs <= options.KeepWithinMs);
        if (keep)
        {
            return new ClusterRoute(keptNode!.Node, keptNode.ForwardEndpoint, RouteReason.Kept, kept!.Tier, kept.EstimatedTtftMs);
        }

        lastNode[model] = bestNode.Node;
        var reason = IsLoading(best) ? RouteReason.Loading : best.Tier switch
        {
            ResidencyTier.Device => RouteReason.OnDevice,
            ResidencyTier.Host => RouteReason.InHostRam,
            _ => RouteReason.LeastLoaded,
        };
        return new ClusterRoute(bestNode.Node, bestNode.ForwardEndpoint, reason, best.Tier, best.EstimatedTtftMs);
    }

    /// <summary>
    /// Tier order, a busy node one tier down: device 0, host 1, disk 2 (a spilled device ranks with host, a spilled host
    /// with disk). A model off the device with requests queued for it on that node is being loaded there: it ranks with
    /// the device, so that concurrent requests for a cold model share one load rather than each starting its own.
    /// </summary>
    private int Rank(ModelResidency entry) => (IsLoading(entry) ? 0 : (int)entry.Tier) + (entry.QueueDepth >= options.SpillQueueDepth ? 1 : 0);

    private static bool IsLoading(ModelResidency entry) => entry.Tier != ResidencyTier.Device && entry.QueueDepth > 0;

    /// <summary>
    /// Within a rank: on the device the lowest estimate (its own queue is what a request waits for); in host RAM or on
    /// disk a node with room for it on the device first (no other model is evicted, so nothing bounces back later),
    /// then the least-loaded node (the model must take the device from the node's other work, which the model's own
    /// estimate does not see), then the lowest estimate.
    /// </summary>
    private static bool Better(NodeResidency node, ModelResidency entry, NodeResidency other, ModelResidency otherEntry)
    {
        if (entry.Tier != ResidencyTier.Device && otherEntry.Tier != ResidencyTier.Device)
        {
            var fits = node.Fits(entry);
            if (fits != other.Fits(otherEntry))
            {
                return fits;
            }

            var load = node.TotalQueueDepth.CompareTo(other.TotalQueueDepth);
            if (load != 0)
            {
                return load < 0;
            }
        }

        var estimate = entry.EstimatedTtftMs.CompareTo(otherEntry.EstimatedTtftMs);
        return estimate != 0 ? estimate < 0 : string.CompareOrdinal(node.Node, other.Node) < 0; // ties: a stable order
    }
}
