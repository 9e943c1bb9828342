using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Options;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Hosting;

/// <summary>
/// Owns the pool and the scheduler for the host's lifetime: registers the catalog at start (validating every file),
/// prefetches the warm tier, runs the keep-alive sweep, and on stop drains requests in flight.
/// </summary>
public sealed class ModelRouterService : IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(5);

    private readonly ServerOptions options;
    private readonly ServerMetrics metrics;
    private readonly ILoggerFactory loggers;
    private readonly ILogger logger;
    private readonly CancellationTokenSource stopping = new();
    private Task? sweeper;

    public ModelRouterService(IOptions<ServerOptions> options, ServerMetrics metrics, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Value;
        this.metrics = metrics;
        this.loggers = loggers;
        logger = loggers.CreateLogger<ModelRouterService>();
        Pool = new ModelPool(new ModelPoolOptions { BudgetBytes = this.options.DeviceBudgetBytes, StoreFactory = WeightStores.ForThisBuild() });
    }

    public ModelPool Pool { get; }

    private static IEnumerable<Measurement<long>> ObserveCpuPagePool()
    {
        if (CpuPagePool.Read() is { } pool)
        {
            yield return new Measurement<long>(pool.CommittedBytes, new KeyValuePair<string, object?>("state", "committed"));
            yield return new Measurement<long>(pool.PooledBytes, new KeyValuePair<string, object?>("state", "pooled"));
        }
    }

    /// <summary>Available once the service has started.</summary>
    public Scheduler Scheduler { get; private set; } = null!;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        NativeLog.Attach(loggers.CreateLogger("llama.cpp"));
        NativeMemoryTuning.Apply(new NativeMemorySettings(), loggers.CreateLogger(typeof(NativeMemoryTuning))); // before any native work: freed contexts go back to the system
        if (options.KeepEvictedCpuPages && CpuPagePool.RaiseLimit(options.DeviceBudgetBytes))
        {
            metrics.ObserveCpuPagePool(ObserveCpuPagePool);
        }
        foreach (var model in options.Models)
        {
            var status = Pool.Register(new ModelRegistration(model.Name, model.Path)
            {
                Priority = model.Priority,
                Pinned = model.Pinned,
                KeepAlive = model.KeepAliveSeconds > 0 ? TimeSpan.FromSeconds(model.KeepAliveSeconds) : null,
                ReloadOnChange = model.ReloadOnChange,
            });
            ServerLog.ModelRegistered(logger, model.Name, status.WeightBytes, model.Path);
        }

        if (options.PrefetchAtStart)
        {
            foreach (var model in options.Models)
            {
                await Pool.PrefetchAsync(model.Name, cancellation: cancellationToken).ConfigureAwait(false);
            }
        }

        Scheduler = new Scheduler(Pool, options.Models.Select(m => m.Name), options.Scheduler.ToSchedulerOptions(), metrics, loggers.CreateLogger<Scheduler>());
        metrics.ObserveResidency(
            () => Pool.Snapshot().Select(s => new System.Diagnostics.Metrics.Measurement<int>(s.State == ModelState.Resident ? 1 : 0, new KeyValuePair<string, object?>("model", s.Name))),
            () => Scheduler.Load().Values.All(l => l.Active == 0) ? 1.0 : 0.0);
        sweeper = SweepAsync(stopping.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        ServerLog.Draining(logger);
        await stopping.CancelAsync().ConfigureAwait(false);
        if (Scheduler is not null)
        {
            await Scheduler.DrainAsync(cancellationToken).ConfigureAwait(false);
        }

        if (sweeper is not null)
        {
            await sweeper.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Scheduler is not null)
        {
            await Scheduler.DisposeAsync().ConfigureAwait(false);
        }

        Pool.Dispose();
        stopping.Dispose();
        NativeLog.Attach(null);
    }

    private async Task SweepAsync(CancellationToken cancellation)
    {
        using var timer = new PeriodicTimer(SweepInterval);
        while (await timer.WaitForNextTickAsync(cancellation).ConfigureAwait(false))
        {
            await Pool.EvictIdleAsync(cancellation).ConfigureAwait(false);
        }
    }
}
