using System.Collections.Concurrent;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// Serves many models from one device budget as if all were resident. <see cref="AcquireAsync"/> makes a model
/// resident (evicting others by policy: lowest priority first, then least recently used; never a pinned model and
/// never one with decodes in flight) and returns a lease that gates every decode. Transitions are serialised, so
/// a request that arrives while its model is Evicting or Restoring waits for that to finish.
/// </summary>
public sealed partial class ModelPool : IDisposable
{
    private readonly ModelPoolOptions options;
    private readonly ConcurrentDictionary<string, PooledModel> models = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim transitions = new(1, 1);
    private RoomSignal released = new();
    private bool disposed;

    public ModelPool(ModelPoolOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BudgetBytes, 1, nameof(options.BudgetBytes));
        this.options = options;
    }

    public long BudgetBytes => options.BudgetBytes;

    /// <summary>
    /// What the pool's models hold now, the figure the budget is checked against: the weights of the models resident
    /// (or being restored or evicted) plus the live contexts (KV caches, output and compute buffers) of every model.
    /// A context outlives its model's eviction on the swap-region path (so that restore is quick to the first token)
    /// and keeps its memory meanwhile, so it counts in every state until it is released.
    /// </summary>
    public long ResidentBytes => WeightBytes + ContextBytes;

    /// <summary>Weight bytes of the models resident now (or being restored or evicted).</summary>
    public long WeightBytes => models.Values.Where(HoldsWeights).Sum(m => m.Store.WeightBytes);

    /// <summary>Bytes the live contexts of all models hold (resident or not).</summary>
    public long ContextBytes => models.Values.Sum(m => m.Store.ContextBytes);

    /// <summary>Adds a model (validating its file); it starts Cold.</summary>
    /// <exception cref="InvalidModelFileException">The file is missing or malformed.</exception>
    /// <exception cref="ArgumentException">A model of that name is registered already.</exception>
    public ModelStatus Register(ModelRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        ObjectDisposedException.ThrowIf(disposed, this);
        var store = options.StoreFactory.Create(registration);
        var entry = new PooledModel(registration, store);
        if (!models.TryAdd(registration.Name, entry))
        {
            store.Dispose();
            throw new ArgumentException($"A model named '{registration.Name}' is registered already.", nameof(registration));
        }

        return entry.Snapshot(options.Time);
    }

    public IReadOnlyList<ModelStatus> Snapshot() => models.Values.Select(m => m.Snapshot(options.Time)).OrderBy(s => s.Name, StringComparer.Ordinal).ToList();

    public bool TryGetStatus(string name, out ModelStatus? status)
    {
        status = models.TryGetValue(name, out var entry) ? entry.Snapshot(options.Time) : null;
        return status is not null;
    }

    /// <summary>Cold → Warm ahead of demand, so that a later restore never reads the disk.</summary>
    public async Task PrefetchAsync(string name, IProgress<double>? progress = null, CancellationToken cancellation = default)
    {
        var entry = Find(name);
        await transitions.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            await Task.Run(() => entry.Store.Warm(progress, cancellation), cancellation).ConfigureAwait(false);
        }
        catch (ModelFileChangedException ex)
        {
            // Reported as on acquire; the next acquire reloads it when ReloadOnChange is set.
            entry.LastError = ex.Problem;
            SetState(entry, ModelState.Failed);
            throw new ModelUnavailableException(entry.Name, ex.Problem, ex);
        }
        finally
        {
            transitions.Release();
        }
    }

    /// <summary>
    /// Makes the model resident (restoring it, evicting others as needed) and leases it for decoding. Every acquire
    /// first checks the model's file (one stat): a file changed since registration fails the model (or, with
    /// <see cref="ModelRegistration.ReloadOnChange"/>, reloads it from the new file once no lease is open).
    /// </summary>
    /// <exception cref="ModelUnavailableException">Unknown name, larger than the budget, its file changed, or the restore failed.</exception>
    /// <exception cref="OperationCanceledException">Cancelled while waiting or restoring (the model stays evicted).</exception>
    public async ValueTask<ModelLease> AcquireAsync(string name, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var entry = Find(name);
        TimeSpan? swapTime = null;
        var reloads = 0;
        while (true)
        {
            if (entry.Store.CheckFile() is null && TryLease(entry, swapTime) is { } lease)
            {
                return lease;
            }

            var signal = Volatile.Read(ref released);
            await transitions.WaitAsync(cancellation).ConfigureAwait(false);
            var mustWait = false;
            Task? roomFreed = null;
            try
            {
                if (entry.Store.CheckFile() is { } change)
                {
                    mustWait = !AcceptFileChange(entry, change, ref reloads);
                }

                if (!mustWait && entry.State != ModelState.Resident)
                {
                    mustWait = !MakeRoom(entry);
                    if (!mustWait)
                    {
                        swapTime = await RestoreMakingRoomOnDeviceAsync(entry, cancellation).ConfigureAwait(false);
                    }
                }
            }
            catch (ModelFileChangedException ex) when (entry.Registration.ReloadOnChange && reloads < MaxReloadsPerAcquire)
            {
                // Changed while it was read: the next turn accepts the file as it is now and loads it again.
                entry.LastError = ex.Problem;
            }
            catch (ModelFileChangedException ex)
            {
                throw new ModelUnavailableException(entry.Name, FileChangeProblem(entry, ex.Problem, reloads), ex);
            }
            finally
            {
                if (mustWait)
                {
                    // Everything that could make room is pinned or busy: wait for a lease to end, then try again. Joined
                    // while the transitions are still ours, so waiters join (and are woken) in the order they found no room.
                    Volatile.Write(ref signal.HasWaiters, true);
                    roomFreed = signal.Task.WaitAsync(cancellation);
                }

                transitions.Release();
            }

            if (roomFreed is not null)
            {
                await roomFreed.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Evicts a model now if it is resident, not pinned and idle; false when it is busy or pinned.</summary>
    public async Task<bool> TryEvictAsync(string name, CancellationToken cancellation = default)
    {
        var entry = Find(name);
        await transitions.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            return entry.State != ModelState.Resident || (!entry.Pinned && TryEvict(entry));
        }
        finally
        {
            transitions.Release();
        }
    }

    /// <summary>
    /// Builds the model's host image ahead of demand: when its next restore would read the file
    /// (<see cref="IWeightStore.CanStageHostImage"/>) and the budget has room for it now, without evicting a model or
    /// releasing a context, loads it and evicts it at once, so that its first restore on demand copies the image
    /// instead of loading the file (cluster placement: about 1 s against tens of ms on the CPU path). Counted in
    /// <see cref="ModelStatus.Stagings"/>, not as a restore: no request waited for it. False, changing nothing, when the
    /// store cannot, the model is not evicted and idle, is pinned, or the room is not free; a lease that takes the
    /// model while it is resident keeps it resident (true all the same: the image exists).
    /// </summary>
    /// <exception cref="ModelUnavailableException">The load failed (the model is Failed, as after a failed acquire).</exception>
    public async Task<bool> TryStageHostImageAsync(string name, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var entry = Find(name);
        if (!entry.Store.CanStageHostImage)
        {
            return false;
        }

        await transitions.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            lock (entry.Gate)
            {
                if (entry.State != ModelState.Evicted || entry.Pinned || entry.InFlight > 0)
                {
                    return false;
                }
            }

            if (!entry.Store.CanStageHostImage || entry.Store.CheckFile() is not null
                || ResidentBytes + entry.Store.WeightBytes > options.BudgetBytes)
            {
                return false;
            }

            try
            {
                await RestoreAsync(entry, cancellation, staging: true).ConfigureAwait(false);
            }
            catch (ModelFileChangedException ex)
            {
                throw new ModelUnavailableException(entry.Name, ex.Problem, ex);
            }
            catch (DeviceMemoryExhaustedException)
            {
                return false; // the device had less room than the budget said: nothing staged, nothing evicted for it
            }

            entry.Stagings++;
            TryEvict(entry);
            return true;
        }
        finally
        {
            transitions.Release();
        }
    }

    /// <summary>
    /// Warm → Cold: releases the model's host-RAM image (and its contexts) when it is off the device, unpinned and idle,
    /// so that host memory goes to the models placed on this node instead (cluster placement). False, changing nothing,
    /// when it is resident, moving, pinned or in use; true when it is Cold afterwards (already Cold included).
    /// </summary>
    public async Task<bool> TryDropAsync(string name, CancellationToken cancellation = default)
    {
        var entry = Find(name);
        await transitions.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            lock (entry.Gate)
            {
                if (entry.State is not (ModelState.Evicted or ModelState.Failed) || entry.Pinned || entry.InFlight > 0
                    || entry.Store.Tier == ModelTier.Resident)
                {
                    return false;
                }
            }

            entry.Store.Drop(); // under the transitions: no restore can start meanwhile
            return true;
        }
        finally
        {
            transitions.Release();
        }
    }

    /// <summary>Keep-alive sweep: evicts resident models idle longer than their KeepAlive. Returns their names.</summary>
    public async Task<IReadOnlyList<string>> EvictIdleAsync(CancellationToken cancellation = default)
    {
        var evicted = new List<string>();
        await transitions.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            foreach (var entry in models.Values)
            {
                if (entry.Registration.KeepAlive is { } keepAlive && entry.State == ModelState.Resident && !entry.Pinned
                    && options.Time.GetElapsedTime(entry.LastUsedTimestamp) > keepAlive && TryEvict(entry))
                {
                    evicted.Add(entry.Name);
                }
            }
        }
        finally
        {
            transitions.Release();
        }

        return evicted;
    }

    public void Pin(string name) => SetPinned(Find(name), true);

    public void Unpin(string name) => SetPinned(Find(name), false);

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        foreach (var entry in models.Values)
        {
            entry.Store.Dispose();
        }

        models.Clear();
        transitions.Dispose();
    }

    internal void Release(PooledModel entry)
    {
        lock (entry.Gate)
        {
            entry.InFlight--;
            entry.LastUsedTimestamp = options.Time.GetTimestamp();
        }

        // Wake whoever waits for room, on one thread-pool thread: their continuations run there one after another in the
        // order they joined, each up to its wait for the transitions (first come, first served from there), instead of
        // racing each other on several threads. Which model is restored first no longer depends on thread timing: fair in
        // production, and the simulator's runs repeat exactly (issue 18). With no waiter (most releases) it is completed
        // here: a hand-off to the pool for nothing cost the simulator about one of its five per request. The next waiter
        // gets a fresh signal.
        var signal = Interlocked.Exchange(ref released, new RoomSignal());
        if (Volatile.Read(ref signal.HasWaiters))
        {
            ThreadPool.UnsafeQueueUserWorkItem(static signal => signal.TrySetResult(), signal, preferLocal: false);
        }
        else
        {
            signal.TrySetResult(); // a waiter joining at this moment runs its (short, asynchronous) retry here
        }
    }

    private PooledModel Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return models.TryGetValue(name, out var entry)
            ? entry
            : throw new ModelUnavailableException(name, $"no such model (registered: {string.Join(", ", models.Keys.Order(StringComparer.Ordinal))})");
    }

    private ModelLease? TryLease(PooledModel entry, TimeSpan? swapTime)
    {
        lock (entry.Gate)
        {
            if (entry.State != ModelState.Resident)
            {
                return null;
            }

            entry.InFlight++;
            entry.LastUsedTimestamp = options.Time.GetTimestamp();
        }

        return new ModelLease(this, entry, swapTime);
    }

    private static void SetPinned(PooledModel entry, bool pinned)
    {
        lock (entry.Gate)
        {
            entry.Pinned = pinned;
        }
    }

    /// <summary>True while the model's weights take device memory: resident, moving, or failed with them still in place.</summary>
    private static bool HoldsWeights(PooledModel m) =>
        m.State is ModelState.Resident or ModelState.Restoring or ModelState.Evicting
        || (m.State == ModelState.Failed && m.Store.Tier == ModelTier.Resident);

    /// <summary>
    /// Completed when a lease ends: waiters for room try again. Continuations run on the thread that completes it:
    /// <see cref="Release"/> completes it on a thread-pool thread of its own when anyone waits.
    /// </summary>
    private sealed class RoomSignal : TaskCompletionSource
    {
        /// <summary>Set by a waiter before it joins (while it holds the transitions).</summary>
        public bool HasWaiters;
    }
}
