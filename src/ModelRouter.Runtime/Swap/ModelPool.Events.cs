namespace ModelRouter.Runtime.Swap;

/// <summary>Which way a model's weights moved.</summary>
public enum PoolSwapKind
{
    /// <summary>Off the device (to the host tier, or dropped to the file).</summary>
    Evict,

    /// <summary>Onto the device.</summary>
    Restore,
}

/// <summary>
/// One finished move of a model's weights. <see cref="Tier"/> is the other end of the move: for a restore the tier the
/// weights came from (Warm: the host image; Cold: read from the file), for an evict the tier they went to. A struct:
/// raising it allocates nothing.
/// </summary>
public readonly record struct PoolSwap(string Model, PoolSwapKind Kind, ModelTier Tier, TimeSpan Duration, long WeightBytes);

/// <summary>What the pool tells observers (the server's dashboard) about its moves.</summary>
public sealed partial class ModelPool
{
    /// <summary>
    /// Raised after every successful evict and restore, on the thread that moved the model and while the transition
    /// lock is held: a handler must be quick, must not throw and must not call back into the pool.
    /// </summary>
    public event Action<PoolSwap>? Swapped;

    private void RaiseSwapped(PooledModel entry, PoolSwapKind kind, ModelTier tier, TimeSpan duration) =>
        Swapped?.Invoke(new PoolSwap(entry.Name, kind, tier, duration, entry.Store.WeightBytes));
}
