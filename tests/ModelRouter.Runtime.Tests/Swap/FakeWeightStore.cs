using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Swap;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>A store without native code, so pool policies are tested fast and exactly; it records what it was asked.</summary>
internal sealed class FakeWeightStore(ModelRegistration registration, long weightBytes, List<string> journal, FakeDevice? device = null) : IWeightStore
{
    public long WeightBytes { get; } = weightBytes;

    public ModelTier Tier { get; private set; } = ModelTier.Cold;

    public Model? Model => null;

    /// <summary>Set by a test: a restore leaves a host image behind, as a swap region does.</summary>
    public bool KeepsImage { get; set; }

    private bool imaged;

    public bool CanStageHostImage => KeepsImage && !imaged && Tier != ModelTier.Resident;

    /// <summary>When set, the next restore throws it (then clears).</summary>
    public Exception? FailNextRestore { get; set; }

    /// <summary>When set, restore blocks until it is released (to observe the Restoring state).</summary>
    public ManualResetEventSlim? HoldRestore { get; set; }

    /// <summary>Completes when a restore reaches <see cref="HoldRestore"/> (the pool then shows the model Restoring).</summary>
    public Task RestoreHeld => restoreHeld.Task;

    private readonly TaskCompletionSource restoreHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Warm(IProgress<double>? progress, CancellationToken cancellation)
    {
        journal.Add($"warm {registration.Name}");
        Tier = Tier == ModelTier.Cold ? ModelTier.Warm : Tier;
    }

    public void Restore(CancellationToken cancellation)
    {
        if (HoldRestore is { } hold)
        {
            restoreHeld.TrySetResult();
            hold.Wait(cancellation);
        }

        cancellation.ThrowIfCancellationRequested();
        if (FailNextRestore is { } failure)
        {
            FailNextRestore = null;
            throw failure;
        }

        if (device is not null)
        {
            if (device.UsedBytes + WeightBytes > device.CapacityBytes)
            {
                journal.Add($"out of device memory {registration.Name}");
                throw new DeviceMemoryExhaustedException($"fake device: {device.UsedBytes} of {device.CapacityBytes} bytes used, {WeightBytes} more needed");
            }

            device.UsedBytes += WeightBytes;
        }

        journal.Add($"restore {registration.Name}");
        Tier = ModelTier.Resident;
        imaged = KeepsImage;
    }

    /// <summary>When set, evict blocks until it is released (to observe the Evicting state).</summary>
    public ManualResetEventSlim? HoldEvict { get; set; }

    /// <summary>Completes when an evict reaches <see cref="HoldEvict"/> (the pool then shows the model Evicting).</summary>
    public Task EvictHeld => evictHeld.Task;

    private readonly TaskCompletionSource evictHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Evict()
    {
        if (HoldEvict is { } hold)
        {
            evictHeld.TrySetResult();
            hold.Wait();
        }

        journal.Add($"evict {registration.Name}");
        if (device is not null && Tier == ModelTier.Resident)
        {
            device.UsedBytes -= WeightBytes;
        }

        Tier = ModelTier.Warm;
    }

    public void Drop()
    {
        Tier = ModelTier.Cold;
        imaged = false;
    }

    /// <summary>What its contexts would hold (set by a test); <see cref="ReleaseContexts"/> sets it to 0.</summary>
    public long ContextBytes { get; set; }

    public void ReleaseContexts()
    {
        journal.Add($"release contexts {registration.Name}");
        ContextBytes = 0;
    }

    public InferenceContext GetContext(ContextOptions options) => throw new NotSupportedException();

    public void Dispose()
    {
    }
}

internal sealed class FakeStoreFactory : IWeightStoreFactory
{
    public List<string> Journal { get; } = [];

    public Dictionary<string, FakeWeightStore> Stores { get; } = [];

    public Dictionary<string, long> Sizes { get; } = [];

    /// <summary>When set, restores fail with <see cref="DeviceMemoryExhaustedException"/> beyond its capacity.</summary>
    public FakeDevice? Device { get; init; }

    public IWeightStore Create(ModelRegistration registration)
    {
        var store = new FakeWeightStore(registration, Sizes.GetValueOrDefault(registration.Name, 100), Journal, Device);
        Stores[registration.Name] = store;
        return store;
    }
}

/// <summary>Device memory that is smaller than the pool believes (another process took some).</summary>
internal sealed class FakeDevice(long capacityBytes)
{
    public long CapacityBytes { get; } = capacityBytes;

    public long UsedBytes { get; set; }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualTime : TimeProvider
{
    private long ticks = TimeSpan.TicksPerDay;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => ticks;

    public void Advance(TimeSpan by) => ticks += by.Ticks;
}
