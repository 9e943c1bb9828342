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

    internal void Update(ResidencySnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        Volatile.Write(ref current, snapshot);
        Volatile.Write(ref refreshedAt, time.GetTimestamp());
    }
}
