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
}

/// <summary>
/// The live server's residency: each pooled model's tier (Resident → device, Warm → host, Cold → disk), the scheduler's
/// queue for it, and the server's own availability estimates (<see cref="ServerModelAvailability"/>: the swap-in from
/// the last measured restore, the time to first token from queue, swap and prompt).
/// </summary>
public sealed class ServerResidency(ModelPool pool, Func<Scheduler?> scheduler, ServerModelAvailability availability) : ILocalResidency
{
    /// <summary>The live server's (its scheduler exists once the service has started).</summary>
    public ServerResidency(ModelRouterService service, ServerModelAvailability availability)
        : this(service.Pool, () => service.Scheduler, availability)
    {
    }

    public ImmutableArray<ModelResidency> Read()
    {
        var statuses = pool.Snapshot();
        var models = ImmutableArray.CreateBuilder<ModelResidency>(statuses.Count);
        foreach (var status in statuses)
        {
            var tier = status.State == ModelState.Resident ? ResidencyTier.Device
                : status.Tier == ModelTier.Cold ? ResidencyTier.Disk : ResidencyTier.Host;
            var queue = scheduler() is { } current ? current.WaitingFor(status.Name) : 0;
            models.Add(new ModelResidency(status.Name, tier, queue, availability.SwapIn(status).TotalMilliseconds,
                availability.EstimateTimeToFirstToken(status.Name).TotalMilliseconds, status.WeightBytes));
        }

        return models.MoveToImmutable();
    }

    public long DeviceFreeBytes => Math.Max(0, pool.BudgetBytes - pool.ResidentBytes);
}
