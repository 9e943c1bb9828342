using System.Collections.Immutable;
using Orleans;
using Orleans.Runtime;

namespace ModelRouter.Cluster;

/// <summary>Where a model's weights are on one node, cheapest to serve first.</summary>
[GenerateSerializer]
public enum ResidencyTier
{
    /// <summary>On the device: serves at once.</summary>
    Device = 0,

    /// <summary>In the host-RAM tier: one swap-in (a copy at bus speed) away.</summary>
    Host = 1,

    /// <summary>Only on disk: read, then swapped in.</summary>
    Disk = 2,
}

/// <summary>One model as one node sees it when it publishes.</summary>
/// <param name="Model">The catalog name.</param>
/// <param name="Tier">Where its weights are.</param>
/// <param name="QueueDepth">Requests waiting for it or running on it.</param>
/// <param name="SwapCostMs">The node's estimate of its swap-in (0 on the device): its last measured restore, else bytes over bandwidth.</param>
/// <param name="EstimatedTtftMs">The node's estimate of a new request's time to first token (queue + swap + prompt).</param>
/// <param name="WeightBytes">Device memory its weights take when resident (and host memory when in the host tier).</param>
/// <param name="DemandPerMinute">Requests this node accepted for the model per minute, averaged over the recent past: the cluster's placement sums it over nodes.</param>
[GenerateSerializer, Immutable]
public sealed record ModelResidency(
    [property: Id(0)] string Model,
    [property: Id(1)] ResidencyTier Tier,
    [property: Id(2)] int QueueDepth,
    [property: Id(3)] double SwapCostMs,
    [property: Id(4)] double EstimatedTtftMs,
    [property: Id(5)] long WeightBytes = 0,
    [property: Id(6)] double DemandPerMinute = 0);

/// <summary>What one node publishes to the directory, every publish interval.</summary>
/// <param name="Node">The node's name.</param>
/// <param name="Silo">Its Orleans silo: the directory drops the entry as soon as membership no longer lists the silo as active.</param>
/// <param name="ForwardEndpoint">Its socket door, where other nodes forward requests (null: it takes none).</param>
/// <param name="PublishedUtc">When the node built this entry.</param>
/// <param name="Sequence">Increases with every publish of the node: an older entry arriving late never replaces a newer one.</param>
/// <param name="Models">Every model the node can serve.</param>
/// <param name="DeviceFreeBytes">Device memory for weights not in use: a model that fits there loads without evicting another.</param>
/// <param name="HostBudgetBytes">Host memory the node gives its host tier (0: no bound, it keeps every model it loads).</param>
[GenerateSerializer, Immutable]
public sealed record NodeResidency(
    [property: Id(0)] string Node,
    [property: Id(1)] SiloAddress Silo,
    [property: Id(2)] string? ForwardEndpoint,
    [property: Id(3)] DateTime PublishedUtc,
    [property: Id(4)] long Sequence,
    [property: Id(5)] ImmutableArray<ModelResidency> Models,
    [property: Id(6)] long DeviceFreeBytes = 0,
    [property: Id(7)] long HostBudgetBytes = 0)
{
    /// <summary>Whether <paramref name="entry"/> would load here without evicting anything.</summary>
    public bool Fits(ModelResidency entry) => entry.Tier == ResidencyTier.Device || (entry.WeightBytes > 0 && entry.WeightBytes <= DeviceFreeBytes);

    /// <summary>Weight bytes of the models the node holds in host RAM or on its device.</summary>
    public long HeldBytes
    {
        get
        {
            var total = 0L;
            foreach (var model in Models)
            {
                total += model.Tier == ResidencyTier.Disk ? 0 : model.WeightBytes;
            }

            return total;
        }
    }

    /// <summary>Requests queued or running on the node, over all its models.</summary>
    public int TotalQueueDepth
    {
        get
        {
            var total = 0;
            foreach (var model in Models)
            {
                total += model.QueueDepth;
            }

            return total;
        }
    }

    public ModelResidency? Find(string model)
    {
        foreach (var entry in Models)
        {
            if (string.Equals(entry.Model, model, StringComparison.Ordinal))
            {
                return entry;
            }
        }

        return null;
    }
}

/// <summary>The directory as read at one moment: every live node's latest entry.</summary>
[GenerateSerializer, Immutable]
public sealed record ResidencySnapshot(
    [property: Id(0)] ImmutableArray<NodeResidency> Nodes,
    [property: Id(1)] DateTime TakenUtc)
{
    public static readonly ResidencySnapshot Empty = new([], DateTime.MinValue);
}
