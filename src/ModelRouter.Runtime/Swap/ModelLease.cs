using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// Permission to decode with a resident model: while any lease is open the model cannot be evicted. Dispose it as
/// soon as the decode work is done (the pool may then evict the model for another).
/// </summary>
public sealed class ModelLease : IDisposable
{
    private readonly ModelPool pool;
    private readonly PooledModel entry;
    private int released;

    internal ModelLease(ModelPool pool, PooledModel entry, TimeSpan? swapTime)
    {
        this.pool = pool;
        this.entry = entry;
        SwapTime = swapTime;
    }

    public string Name => entry.Name;

    /// <summary>The resident model (valid while the lease is open).</summary>
    public Model Model => entry.Store.Model ?? throw new InvalidOperationException($"Model '{entry.Name}' has no live model while resident.");

    /// <summary>How long this acquire waited for a restore (null when the model was already resident).</summary>
    public TimeSpan? SwapTime { get; }

    /// <summary>A context for the model with these options, kept across leases (one driver at a time uses it).</summary>
    public InferenceContext GetContext(ContextOptions options)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref released) != 0, this);
        return entry.Store.GetContext(options);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref released, 1) == 0)
        {
            pool.Release(entry);
        }
    }
}
