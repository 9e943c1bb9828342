using System.Diagnostics.Metrics;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Diagnostics;

/// <summary>
/// The server's instruments on one Meter ("ModelRouter.Server"), readable by dotnet-counters or OpenTelemetry:
/// requests, route µs, queue wait, swap ms, time to first token, tokens/s, per-model residency.
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "ModelRouter.Server";

    private readonly Meter meter;
    private readonly Counter<long> requests;
    private readonly Histogram<double> routeMicroseconds;
    private readonly Histogram<double> queueWaitMilliseconds;
    private readonly Histogram<double> swapMilliseconds;
    private readonly Histogram<double> timeToFirstTokenMilliseconds;
    private readonly Histogram<double> tokensPerSecond;
    private readonly Counter<long> embeddedInputs;
    private readonly Counter<long> workerFaults;
    private readonly Counter<long> preemptions;
    private readonly Counter<long> routeStages;
    private readonly Counter<long> forwards;
    private readonly Counter<long> placements;

    public ServerMetrics(IMeterFactory? meterFactory = null)
    {
        meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        requests = meter.CreateCounter<long>("modelrouter.requests", description: "Requests finished, by model and finish reason");
        routeMicroseconds = meter.CreateHistogram<double>("modelrouter.route.duration", "us", "Time to choose a model");
        queueWaitMilliseconds = meter.CreateHistogram<double>("modelrouter.queue.wait", "ms", "Time from arrival to admission into a batch");
        swapMilliseconds = meter.CreateHistogram<double>("modelrouter.swap.duration", "ms", "Time to make a model resident");
        timeToFirstTokenMilliseconds = meter.CreateHistogram<double>("modelrouter.ttft", "ms", "Time to first token after admission");
        tokensPerSecond = meter.CreateHistogram<double>("modelrouter.decode.rate", "{token}/s", "Decode throughput per request");
        embeddedInputs = meter.CreateCounter<long>("modelrouter.embeddings", "{input}", "Texts embedded, by model");
        workerFaults = meter.CreateCounter<long>("modelrouter.worker.faults", "{fault}", "Faults a model worker recovered from, by model");
        routeStages = meter.CreateCounter<long>("modelrouter.route.stage", "{decision}", "Routing decisions by the cascade stage that settled them (hint, classifier, encoder, judge, default)");
        forwards = meter.CreateCounter<long>("modelrouter.cluster.forwards", "{request}", "Requests forwarded to another cluster node, by node and outcome (served, served_here, failed, cancelled, cut_off)");
        placements = meter.CreateCounter<long>("modelrouter.cluster.placement", "{model}", "Host-tier copies this node read ahead of demand (prefetch), released (drop) or made a swap-region image ahead of demand (stage) under the cluster's placement, by model");
        preemptions = meter.CreateCounter<long>("modelrouter.batch.preemptions", "{sequence}", "Sequences that gave their slot to a waiting request (fair service), by model");
    }

    /// <summary>Registers residency gauges (1 when resident) and the device idle share for the pool's models.</summary>
    public void ObserveResidency(Func<IEnumerable<Measurement<int>>> residency, Func<double> idleShare)
    {
        meter.CreateObservableGauge("modelrouter.model.resident", residency, description: "1 when the model's weights are on the device");
        meter.CreateObservableGauge("modelrouter.device.idle_share", idleShare, description: "Share of time no model was decoding");
    }

    /// <summary>Registers the CPU page pool's gauge: bytes committed in CPU regions and bytes kept for the next restore.</summary>
    public void ObserveCpuPagePool(Func<IEnumerable<Measurement<long>>> bytes) =>
        meter.CreateObservableGauge("modelrouter.cpu_page_pool.bytes", bytes, "By", "CPU swap regions' pages: committed (weights of resident models) and pooled (kept for the next restore), by state");

    public void RecordRoute(TimeSpan elapsed) => routeMicroseconds.Record(elapsed.TotalMicroseconds);

    /// <summary>One routing decision settled by <paramref name="stage"/> (a cascade stage name).</summary>
    public void RecordRouteStage(string stage) => routeStages.Add(1, new KeyValuePair<string, object?>("stage", stage));

    public void RecordQueueWait(string model, TimeSpan elapsed) => queueWaitMilliseconds.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("model", model));

    public void RecordSwap(string model, TimeSpan elapsed) => swapMilliseconds.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("model", model));

    public void RecordCompletion(CompletionStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var model = new KeyValuePair<string, object?>("model", stats.Model);
        requests.Add(1, model, new KeyValuePair<string, object?>("finish", stats.FinishReason.ToString()));
        if (stats.TimeToFirstToken is { } ttft)
        {
            timeToFirstTokenMilliseconds.Record(ttft.TotalMilliseconds, model);
        }

        if (stats.TokensPerSecond > 0)
        {
            tokensPerSecond.Record(stats.TokensPerSecond, model);
        }
    }

    public void RecordEmbeddings(string model, int inputs) => embeddedInputs.Add(inputs, new KeyValuePair<string, object?>("model", model));

    public void RecordWorkerFault(string model) => workerFaults.Add(1, new KeyValuePair<string, object?>("model", model));

    public void RecordPreemption(string model) => preemptions.Add(1, new KeyValuePair<string, object?>("model", model));

    /// <summary>A request forwarded to <paramref name="node"/> ended with <paramref name="outcome"/>.</summary>
    public void RecordForward(string node, string outcome) =>
        forwards.Add(1, new KeyValuePair<string, object?>("node", node), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>The cluster's host placement read <paramref name="model"/> into this node's host tier or released it (<paramref name="action"/>: prefetch, drop).</summary>
    public void RecordPlacement(string model, string action) =>
        placements.Add(1, new KeyValuePair<string, object?>("model", model), new KeyValuePair<string, object?>("action", action));

    public void Dispose() => meter.Dispose();
}
