namespace ModelRouter.Runtime.Swap;

/// <summary>The pool's book-keeping for one model. State and the in-flight count change under <see cref="Gate"/>.</summary>
internal sealed class PooledModel(ModelRegistration registration, IWeightStore store)
{
    public ModelRegistration Registration { get; } = registration;

    public IWeightStore Store { get; } = store;

    public Lock Gate { get; } = new();

    public ModelState State { get; set; } = ModelState.Evicted;

    public int InFlight { get; set; }

    public bool Pinned { get; set; } = registration.Pinned;

    public long LastUsedTimestamp { get; set; }

    public string? LastError { get; set; }

    public int Restores { get; set; }

    public int Evictions { get; set; }

    public TimeSpan? LastRestore { get; set; }

    public TimeSpan? LastEvict { get; set; }

    /// <summary>Restores retried after the device ran out of memory and another model was evicted for room.</summary>
    public int DeviceMemoryRetries { get; set; }

    /// <summary>Times the pool freed this model's contexts while it was evicted, to make room.</summary>
    public int ContextReleases { get; set; }

    /// <summary>Times the model was reloaded because its file changed (<see cref="ModelRegistration.ReloadOnChange"/>).</summary>
    public int FileReloads { get; set; }

    /// <summary>Times the model was loaded and evicted ahead of demand to build its host image (<see cref="ModelPool.TryStageHostImageAsync"/>).</summary>
    public int Stagings { get; set; }

    public string Name => Registration.Name;

    public ModelStatus Snapshot(TimeProvider time)
    {
        lock (Gate)
        {
            var idle = LastUsedTimestamp == 0 ? (TimeSpan?)null : time.GetElapsedTime(LastUsedTimestamp);
            return new ModelStatus(Name, State, Store.Tier, Store.WeightBytes, InFlight, Pinned, Registration.Priority, idle,
                LastError, Restores, Evictions, LastRestore, LastEvict, DeviceMemoryRetries, Store.ContextBytes, ContextReleases, FileReloads, Stagings);
        }
    }

    /// <summary>
    /// Times a transition on the pool's clock: the system's in a server, the virtual one in the simulator, where a
    /// restore's recorded time (which the availability estimates read) is then the simulated one, not however long the
    /// machine took to step the simulation.
    /// </summary>
    public static TimeSpan Measure(TimeProvider time, Action action)
    {
        var start = time.GetTimestamp();
        action();
        return time.GetElapsedTime(start);
    }
}

/// <summary>A point-in-time view of a pooled model, for listings, metrics and admin tools.</summary>
public sealed record ModelStatus(
    string Name,
    ModelState State,
    ModelTier Tier,
    long WeightBytes,
    int DecodesInFlight,
    bool Pinned,
    int Priority,
    TimeSpan? IdleFor,
    string? LastError,
    int Restores,
    int Evictions,
    TimeSpan? LastRestore,
    TimeSpan? LastEvict,
    int DeviceMemoryRetries = 0,
    long ContextBytes = 0,
    int ContextReleases = 0,
    int FileReloads = 0,
    int Stagings = 0);
