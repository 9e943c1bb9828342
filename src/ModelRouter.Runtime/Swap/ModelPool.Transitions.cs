namespace ModelRouter.Runtime.Swap;

/// <summary>The transitions and the eviction policy; all run while holding the pool's transition lock.</summary>
public sealed partial class ModelPool
{
    /// <summary>
    /// Frees memory by policy until <paramref name="entry"/>'s weights fit beside what is held (weights and contexts):
    /// first the contexts of evicted models (they cost only a context creation on their next use), then resident models
    /// by policy. False when what remains is pinned or busy.
    /// </summary>
    /// <exception cref="ModelUnavailableException">The model alone is larger than the whole budget.</exception>
    private bool MakeRoom(PooledModel entry)
    {
        var needed = entry.Store.WeightBytes;
        if (needed > options.BudgetBytes)
        {
            throw new ModelUnavailableException(entry.Name, $"its weights need {needed:N0} bytes but the device budget is {options.BudgetBytes:N0}");
        }

        while (ResidentBytes + needed > options.BudgetBytes)
        {
            if (SelectIdleContexts() is { } idle)
            {
                idle.Store.ReleaseContexts();
                idle.ContextReleases++;
                continue;
            }

            var victim = SelectVictim(entry);
            if (victim is null || !TryEvict(victim))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>An evicted (or failed), unpinned model that still holds contexts, the largest first; null when none.</summary>
    private PooledModel? SelectIdleContexts()
    {
        PooledModel? best = null;
        foreach (var candidate in models.Values)
        {
            if (candidate.State is not (ModelState.Evicted or ModelState.Failed) || candidate.Store.ContextBytes == 0)
            {
                continue;
            }

            lock (candidate.Gate)
            {
                if (candidate.Pinned || candidate.InFlight > 0)
                {
                    continue;
                }
            }

            if (best is null || candidate.Store.ContextBytes > best.Store.ContextBytes)
            {
                best = candidate;
            }
        }

        return best;
    }

    /// <summary>Lowest priority first, then least recently used; never pinned, never busy, never the requester.</summary>
    private PooledModel? SelectVictim(PooledModel requester)
    {
        PooledModel? best = null;
        foreach (var candidate in models.Values)
        {
            if (ReferenceEquals(candidate, requester) || candidate.State != ModelState.Resident)
            {
                continue;
            }

            lock (candidate.Gate)
            {
                if (candidate.Pinned || candidate.InFlight > 0)
                {
                    continue;
                }
            }

            if (best is null
                || candidate.Registration.Priority < best.Registration.Priority
                || (candidate.Registration.Priority == best.Registration.Priority && candidate.LastUsedTimestamp < best.LastUsedTimestamp))
            {
                best = candidate;
            }
        }

        return best;
    }

    /// <summary>Resident → Evicting → Evicted, unless a lease slipped in (then it stays resident).</summary>
    private static bool TryEvict(PooledModel entry)
    {
        lock (entry.Gate)
        {
            if (entry.InFlight > 0 || entry.State != ModelState.Resident)
            {
                return false;
            }

            entry.State = ModelState.Evicting; // from here TryLease refuses new leases
        }

        try
        {
            entry.LastEvict = PooledModel.Measure(entry.Store.Evict);
            entry.Evictions++;
            SetState(entry, ModelState.Evicted);
            return true;
        }
        catch (Exception ex)
        {
            entry.LastError = "evict failed: " + ex.Message;
            SetState(entry, ModelState.Failed);
            throw;
        }
    }

    /// <summary>
    /// Restores, and when the device itself runs out of memory (the budget is an estimate; other processes, KV caches
    /// and fragmentation use the same VRAM) evicts one more model by policy and tries again, until the restore fits or
    /// nothing evictable is left: then the request fails with the device's own error, and the model stays Evicted.
    /// </summary>
    private async Task<TimeSpan> RestoreMakingRoomOnDeviceAsync(PooledModel entry, CancellationToken cancellation)
    {
        while (true)
        {
            try
            {
                return await RestoreAsync(entry, cancellation).ConfigureAwait(false);
            }
            catch (DeviceMemoryExhaustedException ex)
            {
                var victim = SelectVictim(entry);
                if (victim is null || !TryEvict(victim))
                {
                    entry.LastError = "device memory exhausted and nothing left to evict: " + ex.Message;
                    throw new ModelUnavailableException(entry.Name,
                        $"the device ran out of memory during the restore and every other resident model is pinned or busy ({ex.Message})", ex);
                }

                entry.DeviceMemoryRetries++;
            }
        }
    }

    /// <summary>
    /// Evicted/Failed → Restoring → Resident; a failure leaves it Failed (or Evicted when cancelled, or when the device
    /// ran out of memory: the store rolled back and the caller may make room and retry).
    /// </summary>
    private static async Task<TimeSpan> RestoreAsync(PooledModel entry, CancellationToken cancellation)
    {
        SetState(entry, ModelState.Restoring);
        try
        {
            var elapsed = await Task.Run(() => PooledModel.Measure(() => entry.Store.Restore(cancellation)), cancellation).ConfigureAwait(false);
            entry.LastRestore = elapsed;
            entry.Restores++;
            entry.LastError = null;
            SetState(entry, ModelState.Resident);
            return elapsed;
        }
        catch (OperationCanceledException)
        {
            SetState(entry, ModelState.Evicted);
            throw;
        }
        catch (DeviceMemoryExhaustedException)
        {
            SetState(entry, ModelState.Evicted);
            throw;
        }
        catch (ModelUnavailableException ex)
        {
            entry.LastError = ex.Problem;
            SetState(entry, ModelState.Failed);
            throw;
        }
        catch (Exception ex)
        {
            entry.LastError = ex.Message;
            SetState(entry, ModelState.Failed);
            throw new ModelUnavailableException(entry.Name, "restore failed: " + ex.Message, ex);
        }
    }

    private static void SetState(PooledModel entry, ModelState state)
    {
        lock (entry.Gate)
        {
            entry.State = state;
        }
    }
}
