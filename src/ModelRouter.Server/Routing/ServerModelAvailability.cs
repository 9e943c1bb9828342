using ModelRouter.Routing.Policies;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Options;

namespace ModelRouter.Server.Routing;

/// <summary>
/// The latency and hybrid policies' view of the live server: the estimated time to a model's first token for a
/// request submitted now, read from the pool's state and the scheduler's queues.
/// <code>
/// estimate = queue wait + swap-in + prompt
///   queue wait = floor(requests ahead / MaxBatchPerModel) x ServiceTimeMs
///   swap-in    = 0 when Resident; otherwise the model's last measured restore, or (never restored) weight bytes /
///                HostBandwidthMBps; a Cold model adds weight bytes / DiskBandwidthMBps (it is read before it is copied)
///   prompt     = PromptMs
/// </code>
/// Requests ahead are the model's waiting and running requests: fewer than a batch share the device with the new one
/// at once, each further full batch delays it by one mean service time. A Restoring model counts as not resident
/// (how much of its restore is left is unknown, so the whole of it is assumed). Waiting for another model to give up
/// the device (MaxWaitMs) is not modelled: the estimate ranks models, it does not promise a time.
/// </summary>
public sealed class ServerModelAvailability : IModelAvailability
{
    private readonly ModelPool pool;
    private readonly Func<string, int> requestsAhead;
    private readonly int maxBatch;
    private readonly TimeSpan serviceTime;
    private readonly TimeSpan prompt;
    private readonly double hostBytesPerSecond;
    private readonly double diskBytesPerSecond;

    /// <param name="pool">The pool whose state (tier, last restore, weight bytes) says what a swap would cost.</param>
    /// <param name="requestsAhead">Waiting plus running requests of a model (the scheduler's <c>WaitingFor</c>).</param>
    /// <param name="maxBatchPerModel">Requests served together per model (the scheduler's MaxBatchPerModel).</param>
    /// <param name="settings">The configured service time, prompt time and bandwidths.</param>
    public ServerModelAvailability(ModelPool pool, Func<string, int> requestsAhead, int maxBatchPerModel, AvailabilitySettings settings)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(requestsAhead);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchPerModel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.HostBandwidthMBps, 1, nameof(settings));
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.DiskBandwidthMBps, 1, nameof(settings));
        this.pool = pool;
        this.requestsAhead = requestsAhead;
        maxBatch = maxBatchPerModel;
        serviceTime = TimeSpan.FromMilliseconds(settings.ServiceTimeMs);
        prompt = TimeSpan.FromMilliseconds(settings.PromptMs);
        hostBytesPerSecond = settings.HostBandwidthMBps * 1e6;
        diskBytesPerSecond = settings.DiskBandwidthMBps * 1e6;
    }

    public TimeSpan EstimateTimeToFirstToken(string model)
    {
        var queue = QueueWait(Math.Max(0, requestsAhead(model)));

        // Not registered (yet): the pool has nothing to swap and nothing is known to wait for.
        return pool.TryGetStatus(model, out var status) && status is not null
            ? queue + SwapIn(status) + prompt
            : queue + prompt;
    }

    /// <summary>The swap-in part of the estimate alone (zero for a resident model).</summary>
    public TimeSpan SwapIn(ModelStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        if (status.State == ModelState.Resident)
        {
            return TimeSpan.Zero;
        }

        var copy = status.LastRestore ?? TimeSpan.FromSeconds(status.WeightBytes / hostBytesPerSecond);
        return status.Tier == ModelTier.Cold ? copy + TimeSpan.FromSeconds(status.WeightBytes / diskBytesPerSecond) : copy;
    }

    private TimeSpan QueueWait(int ahead) => serviceTime * (ahead / maxBatch);
}
