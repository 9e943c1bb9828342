using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Diagnostics;

/// <summary>One finished evict or restore, as the dashboard shows it.</summary>
public readonly record struct SwapRecord(long Seq, long UnixMs, PoolSwap Swap);

/// <summary>
/// One routing decision and, once its request ended, how it went. <see cref="Excerpt"/> is the start of the routed text
/// (at most <see cref="ServerEvents.ExcerptChars"/> characters): kept in memory only and shown to admins only.
/// </summary>
public readonly record struct RouteRecord(
    long Seq,
    long UnixMs,
    ulong RequestId,
    string Excerpt,
    string Task,
    float Confidence,
    string Stage,
    string Policy,
    string Model,
    TimeSpan RouteTime)
{
    /// <summary>False while the request runs.</summary>
    public bool Ended { get; init; }

    /// <summary>Who answered (a remote member's name when a chain answered); null while it runs or when it failed.</summary>
    public string? ServedBy { get; init; }

    /// <summary>"stop", "length", "cancelled"... or the error code when it failed.</summary>
    public string? Outcome { get; init; }

    public int Tokens { get; init; }

    public TimeSpan QueueWait { get; init; }

    public TimeSpan? SwapTime { get; init; }

    public TimeSpan? TimeToFirstToken { get; init; }

    public TimeSpan Total { get; init; }
}

/// <summary>Each model's queued and running requests at one instant.</summary>
public sealed record QueueSample(long Seq, long UnixMs, string[] Models, int[] Queued, int[] InFlight);

/// <summary>
/// Bounded rings of what the dashboard draws: the last swaps (from <see cref="ModelPool.Swapped"/>), the last routing
/// decisions (from the request path) and per-model queue samples. Recording takes a short lock and allocates nothing
/// for a swap; a decision allocates only its excerpt when the text is longer than the excerpt. Readers copy under the
/// same lock. <see cref="Changed"/> lets a live view wait for the next record without polling.
/// </summary>
public sealed class ServerEvents
{
    public const int SwapCapacity = 256;
    public const int RouteCapacity = 50;

    /// <summary>Five minutes at one sample a second.</summary>
    public const int SampleCapacity = 300;

    /// <summary>Characters of the routed text kept for the dashboard.</summary>
    public const int ExcerptChars = 80;

    private readonly TimeProvider time;
    private readonly Lock gate = new();
    private readonly SwapRecord[] swaps = new SwapRecord[SwapCapacity];
    private readonly RouteRecord[] routes = new RouteRecord[RouteCapacity];
    private readonly QueueSample?[] samples = new QueueSample?[SampleCapacity];
    private long swapSeq;
    private long routeSeq;
    private long routeVersion;
    private long sampleSeq;
    private TaskCompletionSource? changed;

    public ServerEvents(TimeProvider? time = null) => this.time = time ?? TimeProvider.System;

    /// <summary>Bumped by every decision recorded or ended: a reader resends the decisions when it moved.</summary>
    public long RouteVersion => Interlocked.Read(ref routeVersion);

    /// <summary>The newest swap's sequence number (0: none yet).</summary>
    public long LastSwapSeq => Interlocked.Read(ref swapSeq);

    /// <summary>
    /// Completes at the next record. Take it before reading, so that a record made while reading is not missed.
    /// Allocates only when someone waits: recorders just complete whatever is there.
    /// </summary>
    public Task Changed
    {
        get
        {
            var current = Volatile.Read(ref changed);
            if (current is null)
            {
                var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                current = Interlocked.CompareExchange(ref changed, fresh, null) ?? fresh;
            }

            return current.Task;
        }
    }

    /// <summary>The pool's <see cref="ModelPool.Swapped"/> handler: called inside the pool's transition lock, never throws.</summary>
    public void OnSwapped(PoolSwap swap)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (gate)
        {
            var seq = ++swapSeq;
            swaps[(int)(seq % SwapCapacity)] = new SwapRecord(seq, now, swap);
        }

        Signal();
    }

    /// <summary>A request that named no model was routed.</summary>
    public void Routed(ulong requestId, string text, RouteResult decision, RouteHints hints)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(decision);
        var stage = decision.Unsure ? "default" : hints?.RequiredCapability is not null ? "capability" : "classifier";
        var record = new RouteRecord(0, time.GetUtcNow().ToUnixTimeMilliseconds(), requestId, Excerpt(text), decision.Task,
            decision.Confidence, stage, decision.Policy, decision.Model, decision.Elapsed);
        lock (gate)
        {
            var seq = ++routeSeq;
            routes[(int)(seq % RouteCapacity)] = record with { Seq = seq };
            routeVersion++;
        }

        Signal();
    }

    /// <summary>A generation ended; fills in its decision's outcome (nothing when it was not routed).</summary>
    public void Finished(ulong requestId, GenerationDone done)
    {
        ArgumentNullException.ThrowIfNull(done);
        if (done.Task.Length > 0)
        {
            End(requestId, done.Model, FinishName(done.FinishReason), done.GeneratedTokens, done);
        }
    }

    /// <summary>A generation failed; marks its decision (nothing when it was not routed).</summary>
    public void Failed(ulong requestId, RequestError error) => End(requestId, null, "error: " + error, 0, null);

    /// <summary>Records each model's queued and running requests now (the dashboard samples once a second).</summary>
    public void Sample(IReadOnlyList<ModelView> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        var names = new string[models.Count];
        var queued = new int[models.Count];
        var inFlight = new int[models.Count];
        for (var i = 0; i < models.Count; i++)
        {
            (names[i], queued[i], inFlight[i]) = (models[i].Name, models[i].Queued, models[i].InFlight);
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (gate)
        {
            var seq = ++sampleSeq;
            samples[(int)(seq % SampleCapacity)] = new QueueSample(seq, now, names, queued, inFlight);
        }

        Signal();
    }

    /// <summary>Swaps newer than <paramref name="afterSeq"/>, oldest first.</summary>
    public void CopySwaps(long afterSeq, List<SwapRecord> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        lock (gate)
        {
            for (var seq = Math.Max(afterSeq + 1, swapSeq - SwapCapacity + 1); seq <= swapSeq; seq++)
            {
                into.Add(swaps[(int)(seq % SwapCapacity)]);
            }
        }
    }

    /// <summary>The decisions kept, newest first.</summary>
    public void CopyRoutes(List<RouteRecord> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        lock (gate)
        {
            for (var seq = routeSeq; seq > 0 && seq > routeSeq - RouteCapacity; seq--)
            {
                into.Add(routes[(int)(seq % RouteCapacity)]);
            }
        }
    }

    /// <summary>Queue samples newer than <paramref name="afterSeq"/>, oldest first.</summary>
    public void CopySamples(long afterSeq, List<QueueSample> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        lock (gate)
        {
            for (var seq = Math.Max(afterSeq + 1, sampleSeq - SampleCapacity + 1); seq <= sampleSeq; seq++)
            {
                into.Add(samples[(int)(seq % SampleCapacity)]!);
            }
        }
    }

    internal static string Excerpt(string text)
    {
        if (text.Length <= ExcerptChars)
        {
            return text;
        }

        var cut = char.IsHighSurrogate(text[ExcerptChars - 1]) ? ExcerptChars - 1 : ExcerptChars;
        return string.Concat(text.AsSpan(0, cut), "…");
    }

    private void End(ulong requestId, string? servedBy, string outcome, int tokens, GenerationDone? done)
    {
        var found = false;
        lock (gate)
        {
            // Scans at most RouteCapacity entries, newest first: the request is almost always among the last few.
            for (var seq = routeSeq; seq > 0 && seq > routeSeq - RouteCapacity; seq--)
            {
                ref var slot = ref routes[(int)(seq % RouteCapacity)];
                if (slot.RequestId == requestId && !slot.Ended)
                {
                    slot = slot with
                    {
                        Ended = true,
                        ServedBy = servedBy,
                        Outcome = outcome,
                        Tokens = tokens,
                        QueueWait = done?.QueueWait ?? TimeSpan.Zero,
                        SwapTime = done?.SwapTime,
                        TimeToFirstToken = done?.TimeToFirstToken,
                        Total = done?.Total ?? TimeSpan.Zero,
                    };
                    routeVersion++;
                    found = true;
                    break;
                }
            }
        }

        if (found)
        {
            Signal();
        }
    }

    private static string FinishName(Runtime.Generation.FinishReason reason) => reason switch
    {
        Runtime.Generation.FinishReason.MaxTokens => "length",
        Runtime.Generation.FinishReason.Cancelled => "cancelled",
        Runtime.Generation.FinishReason.ContextFull => "context_full",
        _ => "stop",
    };

    private void Signal() => Interlocked.Exchange(ref changed, null)?.TrySetResult();
}
