using System.Collections.Immutable;

namespace ModelRouter.Cluster;

/// <summary>Which models each node keeps in its host tier: the cluster's placement, as one directory snapshot implies it.</summary>
/// <param name="ByNode">Every node of the snapshot with the models planned for its host tier.</param>
/// <param name="Unplaced">Models no node's budget could take: they stay on disk and are read on demand.</param>
public sealed record PlacementPlan(ImmutableDictionary<string, ImmutableSortedSet<string>> ByNode, ImmutableArray<string> Unplaced)
{
    public ImmutableSortedSet<string> For(string node) =>
        ByNode.TryGetValue(node, out var models) ? models : ImmutableSortedSet<string>.Empty.WithComparer(StringComparer.Ordinal);

    /// <summary>How many nodes keep <paramref name="model"/> in host RAM.</summary>
    public int Copies(string model) => ByNode.Values.Count(models => models.Contains(model));
}

/// <summary>
/// Places host-tier copies under each node's budget. A pure function of one directory snapshot, so every node computes
/// the same plan from the same view and applies its own part (<see cref="HostPlacementService"/>): no coordinator,
/// nothing to elect, and a node that joins or leaves changes the snapshot and so the plan.
/// <para>
/// The rule is a greedy apportionment (d'Hondt, as for seats in a parliament): every model gets a first copy before any
/// gets a second, so cold models are spread and every model is one swap-in away somewhere; after that each further copy
/// goes to the model with the most demand per copy, so hot models are replicated in proportion to their traffic until
/// the budgets are full. Each copy goes to a node that already holds the model if one can take it (nothing to read),
/// else to the node with the most budget left (spreading). A copy a node already holds counts
/// <see cref="KeepBonus"/> times its demand, so that small shifts in demand do not make nodes drop one model and read
/// another: a copy moves only when another model needs it clearly more.
/// </para>
/// </summary>
public static class HostPlacement
{
    /// <summary>How much more a held copy weighs than a new one (hysteresis against churn).</summary>
    public const double KeepBonus = 1.5;

    /// <summary>Demand every model has at least, so that models nobody asked for yet are still ordered and placed.</summary>
    private const double DemandFloorPerMinute = 0.01;

    /// <summary>
    /// The plan for <paramref name="nodes"/>. A node with no host budget (0) keeps every model it serves, as a single box
    /// does; its copies count toward every model's. A node is only given models it serves.
    /// </summary>
    public static PlacementPlan Plan(IReadOnlyList<NodeResidency> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        nodes = [.. nodes.OrderBy(n => n.Node, StringComparer.Ordinal)]; // ties go by name: the same plan on every node
        var models = Catalog(nodes);
        var remaining = new long[nodes.Count];
        var planned = new ImmutableSortedSet<string>.Builder[nodes.Count];
        var copies = new int[models.Length];
        for (var n = 0; n < nodes.Count; n++)
        {
            remaining[n] = nodes[n].HostBudgetBytes;
            planned[n] = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
            if (nodes[n].HostBudgetBytes <= 0)
            {
                foreach (var entry in nodes[n].Models)
                {
                    planned[n].Add(entry.Model);
                    copies[Array.FindIndex(models, m => m.Name == entry.Model)]++;
                }
            }
        }

        while (NextCopy(nodes, models, copies, remaining, planned) is { } next)
        {
            planned[next.Node].Add(models[next.Model].Name);
            remaining[next.Node] -= models[next.Model].WeightBytes;
            copies[next.Model]++;
        }

        var byNode = ImmutableDictionary.CreateBuilder<string, ImmutableSortedSet<string>>(StringComparer.Ordinal);
        for (var n = 0; n < nodes.Count; n++)
        {
            byNode[nodes[n].Node] = planned[n].ToImmutable();
        }

        return new PlacementPlan(byNode.ToImmutable(), [.. models.Where((_, m) => copies[m] == 0).Select(m => m.Name)]);
    }

    /// <summary>Every model any node serves, by name, with its weight bytes (the largest any node states) and its demand summed over nodes.</summary>
    private static CatalogModel[] Catalog(IReadOnlyList<NodeResidency> nodes)
    {
        var byName = new SortedDictionary<string, CatalogModel>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            foreach (var entry in node.Models)
            {
                var known = byName.TryGetValue(entry.Model, out var held) ? held : new CatalogModel(entry.Model, 1, DemandFloorPerMinute);
                byName[entry.Model] = known with
                {
                    WeightBytes = Math.Max(known.WeightBytes, entry.WeightBytes),
                    DemandPerMinute = known.DemandPerMinute + Math.Max(0, entry.DemandPerMinute),
                };
            }
        }

        return [.. byName.Values];
    }

    /// <summary>The next copy to place: the model that needs one most, on the best node that can take it; null when none fits anywhere.</summary>
    private static (int Model, int Node)? NextCopy(IReadOnlyList<NodeResidency> nodes, CatalogModel[] models, int[] copies, long[] remaining,
        ImmutableSortedSet<string>.Builder[] planned)
    {
        (int Model, int Node, bool First, double Score)? best = null;
        for (var m = 0; m < models.Length; m++)
        {
            if (BestNode(nodes, models[m], remaining, planned) is not { } node)
            {
                continue;
            }

            var first = copies[m] == 0;
            var score = models[m].DemandPerMinute / (copies[m] + 1) * (node.Holds ? KeepBonus : 1);
            if (best is not { } current || (first && !current.First) || (first == current.First && score > current.Score))
            {
                best = (m, node.Index, first, score); // ties keep the earlier name: the plan is the same on every node
            }
        }

        return best is { } chosen ? (chosen.Model, chosen.Node) : null;
    }

    /// <summary>
    /// Among the nodes that serve the model, lack it in the plan and have room: one that holds it already (first one
    /// within its budget: a node over it holds copies it loaded for requests, which its placement releases), then the
    /// most budget left, then the first name.
    /// </summary>
    private static (int Index, bool Holds)? BestNode(IReadOnlyList<NodeResidency> nodes, CatalogModel model, long[] remaining, ImmutableSortedSet<string>.Builder[] planned)
    {
        (int Index, bool Holds, int Rank)? best = null;
        for (var n = 0; n < nodes.Count; n++)
        {
            if (nodes[n].HostBudgetBytes <= 0 || remaining[n] < model.WeightBytes || planned[n].Contains(model.Name)
                || nodes[n].Find(model.Name) is not { } entry)
            {
                continue;
            }

            var holds = entry.Tier != ResidencyTier.Disk;
            var rank = !holds ? 0 : nodes[n].HeldBytes > nodes[n].HostBudgetBytes ? 1 : 2;
            if (best is not { } current || rank > current.Rank || (rank == current.Rank && remaining[n] > remaining[current.Index]))
            {
                best = (n, holds, rank);
            }
        }

        return best is { } chosen ? (chosen.Index, chosen.Holds) : null;
    }

    private sealed record CatalogModel(string Name, long WeightBytes, double DemandPerMinute);
}
