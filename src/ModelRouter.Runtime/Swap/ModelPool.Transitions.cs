namespace ModelRouter.Runtime.Swap;

/// <summary>The transitions and the eviction policy; all run while holding the pool's transition lock.</summary>
public sealed partial class ModelPool
{
    /// <summary>Reloads one acquire may do for a file that keeps changing while it is read (a copy still in progress).</summary>
    private const int MaxReloadsPerAcquire = 2;

    /// <summary>
    /// The model's file changed since its identity was recorded. Without <see cref="ModelRegistration.ReloadOnChange"/>
    /// the model turns Failed and stays so while the file differs: what was made from the old file is dropped (once no
    /// lease is open) and the request fails naming the file. With it, once no lease is open, the store forgets the old
    /// file, validates the new one and the caller restores from it. False: leases are open, wait for one to end.
    /// </summary>
    /// <exception cref="ModelUnavailableException">No reload configured, the new file is not a model, or it kept changing.</exception>
    private static bool AcceptFileChange(PooledModel entry, string change, ref int reloads)
    {
        int inFlight;
        lock (entry.Gate)
        {
            entry.State = ModelState.Failed; // from here TryLease refuses new leases; open ones finish on memory we own
            entry.LastError = change;
            inFlight = entry.InFlight;
        }

        if (!entry.Registration.ReloadOnChange || reloads >= MaxReloadsPerAcquire)
        {
            if (inFlight == 0)
            {
                entry.Store.Drop(); // nothing made from the old file is kept: its memory goes back to the budget
            }

            throw new ModelUnavailableException(entry.Name, FileChangeProblem(entry, change, reloads));
        }

        if (inFlight > 0)
        {
            entry.LastError = $"{change}; reloading once its {inFlight} open lease(s) end";
            return false;
        }

        reloads++;
        try
        {
            entry.Store.AcceptFileChange();
        }
        catch (InvalidModelFileException ex)
        {
            entry.LastError = $"{change}; the new file cannot be loaded: {ex.Problem}";
            throw new ModelUnavailableException(entry.Name, entry.LastError, ex);
        }

        entry.FileReloads++;
        entry.LastError = null;
        SetState(entry, ModelState.Evicted);
        return true;
    }

    private static string FileChangeProblem(PooledModel entry, string change, int reloads) =>
        !entry.Registration.ReloadOnChange
            ? change + "; the model stays failed until the file is back as it was (ReloadOnChange loads a changed file instead)"
            : reloads >= MaxReloadsPerAcquire ? $"{change}; it kept changing while it was reloaded ({reloads} tries)" : change;

    /// <summary>A failed model whose weights are still in device memory and that no lease uses; null when none.</summary>
    private PooledModel? SelectFailedHoldingWeights()
    {
        foreach (var candidate in models.Values)
        {
            if (candidate.State != ModelState.Failed || candidate.Store.Tier != ModelTier.Resident)
            {
                continue;
            }

            lock (candidate.Gate)
            {
                if (candidate.InFlight == 0)
                {
                    return candidate;
                }
            }
        }

        return null;
    }

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
            if (SelectFailedHoldingWeights() is { } failed)
            {
                failed.Store.Drop(); // failed (its file changed, or an evict failed): of no use until it is loaded again
                continue;
            }

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
    private bool TryEvict(PooledModel entry)
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
            entry.LastEvict = PooledModel.Measure(options.Time, entry.Store.Evict);
            entry.Evictions++;
            SetState(entry, ModelState.Evicted);
            RaiseSwapped(entry, PoolSwapKind.Evict, entry.Store.Tier, entry.LastEvict.Value);
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
    private async Task<TimeSpan> RestoreAsync(PooledModel entry, CancellationToken cancellation, bool staging = false)
    {
        var from = entry.Store.Tier;
        SetState(entry, ModelState.Restoring);
        try
        {
            var elapsed = await Task.Run(() => PooledModel.Measure(options.Time, () => entry.Store.Restore(cancellation)), cancellation).ConfigureAwait(false);
            if (!staging)
            {
                entry.LastRestore = elapsed;
                entry.Restores++;
            }

            entry.LastError = null;
            SetState(entry, ModelState.Resident);
            RaiseSwapped(entry, PoolSwapKind.Restore, from, elapsed);
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
        catch (ModelFileChangedException ex)
        {
            entry.LastError = ex.Problem; // the caller fails the request or, with ReloadOnChange, reloads
            SetState(entry, ModelState.Failed);
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
