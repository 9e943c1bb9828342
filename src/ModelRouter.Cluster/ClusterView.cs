namespace ModelRouter.Cluster;

/// <summary>
/// This node's latest copy of the directory, refreshed by <see cref="ResidencyPublisher"/> every publish interval and
/// read by routing without a call across the network. <see cref="Age"/> says how old it is.
/// </summary>
public sealed class ClusterView(TimeProvider time)
{
    private ResidencySnapshot current = ResidencySnapshot.Empty;
    private long refreshedAt;

    public ResidencySnapshot Current => Volatile.Read(ref current);

    /// <summary>Time since the last refresh (infinite before the first).</summary>
    public TimeSpan Age => Volatile.Read(ref refreshedAt) is var at && at == 0 ? Timeout.InfiniteTimeSpan : time.GetElapsedTime(at);

    /// <summary>
    /// Raised after an update without nodes the previous copy listed (membership declared them dead, or they left), with
    /// their names: work this node sent them and that has no answer yet must not wait for it.
    /// </summary>
    public event Action<IReadOnlyList<string>>? NodesLeft;

    internal void Update(ResidencySnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var previous = Interlocked.Exchange(ref current, snapshot);
        Volatile.Write(ref refreshedAt, time.GetTimestamp());
        if (NodesLeft is { } handlers && previous.Nodes.Length > 0)
        {
            var left = previous.Nodes.Select(n => n.Node).Except(snapshot.Nodes.Select(n => n.Node), StringComparer.Ordinal).ToList();
            if (left.Count > 0)
            {
                handlers(left);
            }
        }
    }
}
