using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Runtime;

namespace ModelRouter.Cluster;

/// <summary>
/// Every publish interval: this node's residency to the directory, and the directory back into <see cref="ClusterView"/>
/// (one grain call both ways). A failed call is logged and retried at the next tick; the view keeps its last copy and
/// its age says how stale it is. On shutdown the node removes itself first, so that nobody forwards to it while
/// membership has not yet noticed.
/// </summary>
internal sealed partial class ResidencyPublisher(
    IGrainFactory grains,
    ILocalSiloDetails silo,
    ILocalResidency local,
    ClusterView view,
    IOptions<ClusterSettings> settings,
    TimeProvider time,
    ILogger<ResidencyPublisher> logger) : BackgroundService
{
    private readonly ClusterSettings settings = settings.Value;
    private long sequence;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var directory = grains.GetGrain<IResidencyDirectoryGrain>(0);
        using var timer = new PeriodicTimer(settings.PublishInterval, time);
        do
        {
            try
            {
                view.Update(await directory.PublishAsync(Entry()).WaitAsync(settings.PublishInterval * 2, time, stoppingToken).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogPublishFailed(logger, ex, settings.ResolvedNodeName, view.Age.TotalMilliseconds);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await grains.GetGrain<IResidencyDirectoryGrain>(0).RemoveAsync(settings.ResolvedNodeName).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OrleansException or OperationCanceledException or SiloUnavailableException)
        {
            // Leaving anyway: membership drops this node from the directory within its timeout.
            LogLeaveFailed(logger, ex, settings.ResolvedNodeName);
        }
    }

    internal NodeResidency Entry() =>
        new(settings.ResolvedNodeName, silo.SiloAddress, settings.ForwardEndpoint, time.GetUtcNow().UtcDateTime, Interlocked.Increment(ref sequence), local.Read(), local.DeviceFreeBytes, local.HostBudgetBytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster: node {Node} could not publish its residency (its view of the cluster is {AgeMs:F0} ms old); retrying at the next interval.")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, string node, double ageMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster: node {Node} could not remove itself from the directory on leaving; membership will.")]
    private static partial void LogLeaveFailed(ILogger logger, Exception exception, string node);
}
