using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Swap;

namespace ModelRouter.Cli.Simulation;

/// <summary>Swaps of one simulated run: how many and how long, on virtual time.</summary>
public sealed class SwapLedger
{
    private long restores;
    private long swapTicks;

    public long Restores => Interlocked.Read(ref restores);

    public TimeSpan SwapTime => TimeSpan.FromTicks(Interlocked.Read(ref swapTicks));

    internal void Record(TimeSpan duration, bool restore)
    {
        if (restore)
        {
            Interlocked.Increment(ref restores);
        }

        Interlocked.Add(ref swapTicks, duration.Ticks);
    }
}

/// <summary>A weight store whose restore and evict take the profile's time on the virtual clock; nothing native.</summary>
internal sealed class SimulatedStore(ModelCost cost, VirtualClock clock, SwapLedger ledger) : IWeightStore
{
    public long WeightBytes => cost.WeightBytes;

    public ModelTier Tier { get; private set; } = ModelTier.Warm; // the host tier is primed before the trace starts

    public Model? Model => null;

    public long ContextBytes => 0;

    public void Warm(IProgress<double>? progress, CancellationToken cancellation) => Tier = Tier == ModelTier.Cold ? ModelTier.Warm : Tier;

    public void Restore(CancellationToken cancellation)
    {
        // From the host tier: the profile's restore. Not in it (the cluster's placement left it out): a load from the file.
        var duration = TimeSpan.FromMilliseconds(Tier == ModelTier.Cold ? cost.ReloadMs : cost.RestoreMs);
        clock.Sleep(duration);
        ledger.Record(duration, restore: true);
        Tier = ModelTier.Resident;
    }

    public void Evict()
    {
        var duration = TimeSpan.FromMilliseconds(cost.EvictMs);
        clock.Sleep(duration);
        ledger.Record(duration, restore: false);
        Tier = ModelTier.Warm;
    }

    public void Drop() => Tier = ModelTier.Cold;

    /// <summary>
    /// The cluster's host placement, applied at once and off the device's time (a page-cache read or release runs beside
    /// the device): a model off the device goes to the host tier (placed here) or out of it.
    /// </summary>
    internal void Place(bool held)
    {
        if (Tier != ModelTier.Resident)
        {
            Tier = held ? ModelTier.Warm : ModelTier.Cold;
        }
    }

    public void ReleaseContexts()
    {
    }

    public InferenceContext GetContext(ContextOptions options) =>
        throw new NotSupportedException("the simulator decodes through its cost model, not a llama.cpp context");

    public void Dispose()
    {
    }
}

internal sealed class SimulatedStoreFactory(SwapProfile profile, VirtualClock clock, SwapLedger ledger) : IWeightStoreFactory
{
    private readonly Dictionary<string, SimulatedStore> stores = new(StringComparer.Ordinal);

    /// <summary>The stores made so far, by model (the simulated cluster's placement sets their tiers).</summary>
    public IReadOnlyDictionary<string, SimulatedStore> Stores => stores;

    public IWeightStore Create(ModelRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        var cost = profile.Models.FirstOrDefault(m => m.Model == registration.Name)
            ?? throw new ArgumentException($"the swap profile has no model '{registration.Name}'", nameof(registration));
        var store = new SimulatedStore(cost, clock, ledger);
        stores[registration.Name] = store;
        return store;
    }
}
