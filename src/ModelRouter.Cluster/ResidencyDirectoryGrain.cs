using System.Collections.Immutable;
using Orleans;
using Orleans.Runtime;

namespace ModelRouter.Cluster;

/// <summary>
/// The cluster's residency directory: every node publishes its <see cref="NodeResidency"/> here and reads everyone's.
/// One activation (key 0) for the whole cluster; Orleans places it and, when its node dies, activates it again on
/// another. Its state is soft on purpose: a new activation is empty and every live node refills it within one publish
/// interval, so there is nothing to persist and nothing to reconcile.
/// </summary>
public interface IResidencyDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Records a node's entry (an entry older than the one held for that node is ignored) and returns the directory.</summary>
    Task<ResidencySnapshot> PublishAsync(NodeResidency entry);

    Task<ResidencySnapshot> SnapshotAsync();

    /// <summary>Drops a node at once (it is leaving); membership would drop it within its timeout anyway.</summary>
    Task RemoveAsync(string node);
}

/// <summary>
/// Keeps the latest entry per node and answers with the live ones: an entry is dropped when its silo is no longer active
/// in Orleans' membership (dead or leaving) or when it arrived longer ago than its lifetime (a node that stopped
/// publishing; timed by this node's clock, so clock skew between machines does not matter).
/// Staleness: a reader sees a node's state as of at most one publish interval plus one call ago while the node lives.
/// </summary>
internal sealed class ResidencyDirectoryGrain(IClusterMembershipService membership, Microsoft.Extensions.Options.IOptions<ClusterSettings> settings)
    : Grain, IResidencyDirectoryGrain
{
    // Each entry with the time it arrived here, by this node's clock: lifetimes never compare two machines' clocks.
    private readonly Dictionary<string, (NodeResidency Entry, DateTime ReceivedUtc)> entries = new(StringComparer.Ordinal);
    private readonly TimeSpan lifetime = settings.Value.EntryLifetime;

    public Task<ResidencySnapshot> PublishAsync(NodeResidency entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!entries.TryGetValue(entry.Node, out var held) || held.Entry.Sequence < entry.Sequence || held.Entry.Silo != entry.Silo)
        {
            entries[entry.Node] = (entry, DateTime.UtcNow); // a restarted node has a new silo and starts its sequence again
        }

        return SnapshotAsync();
    }

    public Task<ResidencySnapshot> SnapshotAsync()
    {
        var now = DateTime.UtcNow;
        var members = membership.CurrentSnapshot;
        List<string>? gone = null;
        var live = ImmutableArray.CreateBuilder<NodeResidency>(entries.Count);
        foreach (var (node, (entry, received)) in entries)
        {
            if (members.GetSiloStatus(entry.Silo) != SiloStatus.Active || now - received > lifetime)
            {
                (gone ??= []).Add(node);
                continue;
            }

            live.Add(entry);
        }

        foreach (var node in gone ?? [])
        {
            entries.Remove(node);
        }

        live.Sort((a, b) => string.CompareOrdinal(a.Node, b.Node));
        return Task.FromResult(new ResidencySnapshot(live.ToImmutable(), now));
    }

    public Task RemoveAsync(string node)
    {
        entries.Remove(node);
        return Task.CompletedTask;
    }
}
