using System.Collections.Immutable;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cluster;

/// <summary>What this node serves and how cheaply, read when it publishes to the directory.</summary>
public interface ILocalResidency
{
    ImmutableArray<ModelResidency> Read();

    /// <summary>Device memory for weights not in use now (0 when unknown).</summary>
    long DeviceFreeBytes => 0;

    /// <summary>Host memory this node gives its host tier; 0 (no bound) means it keeps every model it loads and takes no placement.</summary>
    long HostBudgetBytes => 0;

    /// <summary>Brings a model placed on this node into its host tier, ahead of demand (a node without a host tier has nothing to do).</summary>
    Task PrefetchAsync(string model, CancellationToken cancellation) => Task.CompletedTask;

    /// <summary>Releases a model's host-tier copy placed elsewhere; false when it is in use, on the device or pinned (tried again later).</summary>
    Task<bool> TryDropAsync(string model, CancellationToken cancellation) => Task.FromResult(false);

    /// <summary>
    /// Turns a prefetched host copy (the file in the page cache) into the swap region's host image, when the device has
    /// room now without evicting anything, so that the model's first restore here is a copy, not a load; false when there
    /// was nothing to do or no room (tried again at the next placement).
    /// </summary>
    Task<bool> TryStageAsync(string model, CancellationToken cancellation) => Task.FromResult(false);
}

/// <summary>
/// The live server's residency: each pooled model's tier (Resident → device, Warm → host, Cold → disk), the scheduler's
/// queue for it, and the server's own availability estimates (<see cref="ServerModelAvailability"/>: the swap-in from
/// the last measured restore, the time to first token from queue, swap and prompt).
/// </summary>
/// <param name="hostBudgetBytes">The host tier's share of host memory (<see cref="ClusterSettings.HostBudgetMb"/>; 0: no bound).</param>
/// <param name="time">The clock demand is averaged on (virtual in the simulator).</param>
public sealed class ServerResidency(ModelPool pool, Func<Scheduler?> scheduler, ServerModelAvailability availability, long hostBudgetBytes = 0,
    TimeProvider? time = null) : ILocalResidency
{
    /// <summary>Demand is an exponential average of the accepted requests over about this long.</summary>
    internal static readonly TimeSpan DemandWindow = TimeSpan.FromSeconds(60);

    private readonly TimeProvider clock = time ?? TimeProvider.System;
    private readonly Dictionary<string, DemandSample> demand = new(StringComparer.Ordinal);

    /// <summary>The live server's (its scheduler exists once the service has started).</summary>
    public ServerResidency(ModelRouterService service, ServerModelAvailability availability, long hostBudgetBytes = 0)
        : this(service.Pool, () => service.Scheduler, availability, hostBudgetBytes)
    {
    }

    public ImmutableArray<ModelResidency> Read()
    {
        var statuses = pool.Snapshot();
        var models = ImmutableArray.CreateBuilder<ModelResidency>(statuses.Count);
        var now = clock.GetTimestamp();
        var current = scheduler();
        foreach (var status in statuses)
        {
            var tier = status.State == ModelState.Resident ? ResidencyTier.Device
                : status.Tier == ModelTier.Cold ? ResidencyTier.Disk : ResidencyTier.Host;
            var queue = current?.WaitingFor(status.Name) ?? 0;
            models.Add(new ModelResidency(status.Name, tier, queue, availability.SwapIn(status).TotalMilliseconds,
                availability.EstimateTimeToFirstToken(status.Name).TotalMilliseconds, status.WeightBytes,
                DemandPerMinute(status.Name, current?.AcceptedFor(status.Name) ?? 0, now)));
        }

        return models.MoveToImmutable();
    }

    public long DeviceFreeBytes => Math.Max(0, pool.BudgetBytes - pool.ResidentBytes);

    public long HostBudgetBytes => hostBudgetBytes;

    public Task PrefetchAsync(string model, CancellationToken cancellation) => pool.PrefetchAsync(model, progress: null, cancellation);

    public Task<bool> TryDropAsync(string model, CancellationToken cancellation) => pool.TryDropAsync(model, cancellation);

    public Task<bool> TryStageAsync(string model, CancellationToken cancellation) => pool.TryStageHostImageAsync(model, cancellation);

    /// <summary>
    /// Requests per minute, an exponential average over <see cref="DemandWindow"/> of the scheduler's accepted count,
    /// sampled at each publish: recent enough that a shift in what users ask moves placement within a minute or two,
    /// smooth enough that one burst does not.
    /// </summary>
    private double DemandPerMinute(string model, long accepted, long now)
    {
        lock (demand)
        {
            if (!demand.TryGetValue(model, out var last) || accepted < last.Accepted)
            {
                demand[model] = new DemandSample(accepted, now, 0); // first sample, or a new scheduler: no rate yet
                return 0;
            }

            var elapsed = clock.GetElapsedTime(last.Timestamp, now);
            if (elapsed <= TimeSpan.Zero)
            {
                return last.PerMinute;
            }

            var instant = (accepted - last.Accepted) / elapsed.TotalMinutes;
            var weight = 1 - Math.Exp(-elapsed / DemandWindow);
            var perMinute = last.PerMinute + (weight * (instant - last.PerMinute));
            demand[model] = new DemandSample(accepted, now, perMinute);
            return perMinute;
        }
    }

    private readonly record struct DemandSample(long Accepted, long Timestamp, double PerMinute);
}
