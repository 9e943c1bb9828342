using System.Collections.Immutable;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;

namespace ModelRouter.Cluster;

/// <summary>What this node serves and how cheaply, read when it publishes to the directory.</summary>
public interface ILocalResidency
{
    ImmutableArray<ModelResidency> Read();
}

/// <summary>
/// The live server's residency: each pooled model's tier (Resident → device, Warm → host, Cold → disk), the scheduler's
/// queue for it, and the server's own availability estimates (<see cref="ServerModelAvailability"/>: the swap-in from
/// the last measured restore, the time to first token from queue, swap and prompt).
/// </summary>
internal sealed class ServerResidency(ModelRouterService service, ServerModelAvailability availability) : ILocalResidency
{
    public ImmutableArray<ModelResidency> Read()
    {
        var statuses = service.Pool.Snapshot();
        var models = ImmutableArray.CreateBuilder<ModelResidency>(statuses.Count);
        foreach (var status in statuses)
        {
            var tier = status.State == ModelState.Resident ? ResidencyTier.Device
                : status.Tier == ModelTier.Cold ? ResidencyTier.Disk : ResidencyTier.Host;
            var queue = service.Scheduler is { } scheduler ? scheduler.WaitingFor(status.Name) : 0;
            models.Add(new ModelResidency(status.Name, tier, queue, availability.SwapIn(status).TotalMilliseconds,
                availability.EstimateTimeToFirstToken(status.Name).TotalMilliseconds));
        }

        return models.MoveToImmutable();
    }
}
