using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Server.Diagnostics;

namespace ModelRouter.Cluster;

/// <summary>
/// Applies this node's part of the cluster's host placement (<see cref="HostPlacement"/>) every placement interval:
/// releases the host copies of models placed elsewhere (only while they are off the device and idle), then reads the
/// models placed here into the host tier, ahead of demand, as far as the budget goes by this node's own count. It acts
/// on a model only once <see cref="ClusterSettings.ActAfterPlacements"/> placements in a row agreed. Only on a node
/// with a host budget; idle while its view of the cluster is stale (a partitioned node keeps what it has rather than
/// act on an old plan).
/// </summary>
internal sealed partial class HostPlacementService(
    ILocalResidency local,
    ClusterView view,
    IOptions<ClusterSettings> settings,
    TimeProvider time,
    ILogger<HostPlacementService> logger,
    ServerMetrics? metrics = null) : BackgroundService
{
    private readonly ClusterSettings settings = settings.Value;

    // Per model, placements in a row that disagreed with what this node holds: off the plan while it holds a host copy
    // (positive), or on the plan while it does not (negative). Reset when they agree.
    private readonly Dictionary<string, int> streaks = new(StringComparer.Ordinal);

    /// <summary>The last plan this node computed (null before the first).</summary>
    public PlacementPlan? LastPlan { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (local.HostBudgetBytes <= 0)
        {
            return; // no bound: this node keeps every model it loads and takes no placement
        }

        using var timer = new PeriodicTimer(settings.PlacementInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await ApplyOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogPassFailed(logger, ex, settings.ResolvedNodeName);
            }
        }
    }

    /// <summary>One placement pass; returns what it did (for tests and the log).</summary>
    internal async Task<PlacementPass> ApplyOnceAsync(CancellationToken cancellation)
    {
        var self = settings.ResolvedNodeName;
        var snapshot = view.Current;
        if (view.Age > settings.EntryLifetime || !snapshot.Nodes.Any(n => n.Node == self))
        {
            return PlacementPass.Idle; // stale, or not in the directory yet: no plan to act on
        }

        // This node's own entry as it is now, not as last published: a copy released a moment ago must not count as held
        // (the plan would place it here again and the node read it back), nor one read a moment ago as missing.
        var held = local.Read();
        var plan = HostPlacement.Plan([.. snapshot.Nodes.Select(n => n.Node == self ? n with { Models = held, HostBudgetBytes = local.HostBudgetBytes } : n)]);
        LastPlan = plan;
        var mine = plan.For(self);
        var hostBytes = held.Where(m => m.Tier != ResidencyTier.Disk).Sum(m => m.WeightBytes);
        var dropped = new List<string>();
        var toRead = new List<ModelResidency>();
        foreach (var model in held)
        {
            var planned = mine.Contains(model.Model);
            var streak = (planned, model.Tier) switch
            {
                (false, ResidencyTier.Host) => Math.Max(0, streaks.GetValueOrDefault(model.Model)) + 1,
                (true, ResidencyTier.Disk) => Math.Min(0, streaks.GetValueOrDefault(model.Model)) - 1,
                _ => 0,
            };
            streaks[model.Model] = streak;
            if (streak <= -settings.ActAfterPlacements)
            {
                toRead.Add(model);
            }

            if (streak >= settings.ActAfterPlacements && await local.TryDropAsync(model.Model, cancellation).ConfigureAwait(false))
            {
                streaks.Remove(model.Model);
                dropped.Add(model.Model);
                hostBytes -= model.WeightBytes;
                metrics?.RecordPlacement(model.Model, "drop");
                var copies = plan.Copies(model.Model);
                LogDropped(logger, self, model.Model, copies, model.WeightBytes >> 20);
            }
        }

        var prefetched = new List<string>();
        var budgetMb = local.HostBudgetBytes >> 20;
        foreach (var model in toRead.OrderByDescending(m => m.DemandPerMinute))
        {
            if (hostBytes + model.WeightBytes > local.HostBudgetBytes)
            {
                continue; // by this node's own count the budget is spent (its view was older than its memory): next pass
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                await local.PrefetchAsync(model.Model, cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogPrefetchFailed(logger, ex, self, model.Model);
                continue;
            }

            hostBytes += model.WeightBytes;
            streaks.Remove(model.Model);
            prefetched.Add(model.Model);
            metrics?.RecordPlacement(model.Model, "prefetch");
            var (elapsed, copies) = (Stopwatch.GetElapsedTime(started), plan.Copies(model.Model));
            LogPrefetched(logger, self, model.Model, elapsed.TotalMilliseconds, copies, hostBytes >> 20, budgetMb);
        }

        var staged = await StageOneAsync(self, mine, held, prefetched, cancellation).ConfigureAwait(false);
        return new PlacementPass(plan, prefetched, dropped, staged);
    }

    /// <summary>
    /// A prefetched copy is the model's file in the page cache; its first restore would still be a full load (about 1 s
    /// on the demo's CPU nodes, against tens of ms from a swap region's image). So, one model per pass (a load takes
    /// the device for as long), a model placed here whose host copy is not yet an image becomes one when the device has
    /// room without evicting anything (<see cref="ILocalResidency.TryStageAsync"/>), and only while no request waits
    /// here: the load holds the pool's transitions, so a request that needed a swap meanwhile would wait for it.
    /// Otherwise it waits for a pass with room. Returns the model staged, or null.
    /// </summary>
    private async Task<string?> StageOneAsync(string self, ImmutableSortedSet<string> mine, IReadOnlyCollection<ModelResidency> held,
        IReadOnlyList<string> prefetched, CancellationToken cancellation)
    {
        if (held.Any(m => m.QueueDepth > 0))
        {
            return null;
        }

        var candidates = held.Where(m => m.Tier == ResidencyTier.Host && mine.Contains(m.Model)).Select(m => m.Model).Concat(prefetched);
        foreach (var model in candidates.Distinct(StringComparer.Ordinal))
        {
            var started = Stopwatch.GetTimestamp();
            bool staged;
            try
            {
                staged = await local.TryStageAsync(model, cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogStageFailed(logger, ex, self, model);
                continue;
            }

            if (staged)
            {
                metrics?.RecordPlacement(model, "stage");
                var elapsed = Stopwatch.GetElapsedTime(started);
                LogStaged(logger, self, model, elapsed.TotalMilliseconds);
                return model;
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster placement: node {Node} read {Model} into its host tier in {ElapsedMs:F0} ms ({Copies} copies in the cluster; host tier {UsedMb}/{BudgetMb} MB).")]
    private static partial void LogPrefetched(ILogger logger, string node, string model, double elapsedMs, int copies, long usedMb, long budgetMb);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster placement: node {Node} released {Model} ({SizeMb} MB) from its host tier; {Copies} other nodes keep it.")]
    private static partial void LogDropped(ILogger logger, string node, string model, int copies, long sizeMb);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster placement: node {Node} could not read {Model} into its host tier; trying again at the next placement.")]
    private static partial void LogPrefetchFailed(ILogger logger, Exception exception, string node, string model);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster placement: node {Node} built {Model}'s host image ahead of demand in {ElapsedMs:F0} ms (loaded while the device had room, then evicted): its first restore here copies the image.")]
    private static partial void LogStaged(ILogger logger, string node, string model, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster placement: node {Node} could not build {Model}'s host image; its first restore will load the file.")]
    private static partial void LogStageFailed(ILogger logger, Exception exception, string node, string model);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster placement: node {Node}'s placement pass failed; trying again at the next interval.")]
    private static partial void LogPassFailed(ILogger logger, Exception exception, string node);
}

/// <summary>What one placement pass did: the plan it computed, the models it read into the host tier, those it released, and
/// the model whose host image it built (null: none).</summary>
internal sealed record PlacementPass(PlacementPlan? Plan, IReadOnlyList<string> Prefetched, IReadOnlyList<string> Dropped, string? Staged = null)
{
    public static readonly PlacementPass Idle = new(null, [], []);
}
