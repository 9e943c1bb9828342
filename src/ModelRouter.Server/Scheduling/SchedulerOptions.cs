namespace ModelRouter.Server.Scheduling;

/// <summary>What to do when a model's queue is full.</summary>
public enum OverloadPolicy
{
    /// <summary>Refuse the new request at once with an "overloaded" error (the client may retry or fall back).</summary>
    RejectNew,
}

/// <summary>Knobs of the swap-aware scheduler.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Requests waiting per model before <see cref="Overload"/> applies.</summary>
    public int QueueCapacityPerModel { get; init; } = 256;

    public OverloadPolicy Overload { get; init; } = OverloadPolicy.RejectNew;

    /// <summary>Concurrent sequences batched into one context per model (llama.cpp n_seq_max).</summary>
    public int MaxBatchPerModel { get; init; } = 8;

    /// <summary>Context cells per sequence; a model's context is this times <see cref="MaxBatchPerModel"/>.</summary>
    public int ContextPerSequence { get; init; } = 2048;

    /// <summary>Most tokens one embedding input may have (the embedding context gives each input this many cells).</summary>
    public int EmbeddingTokensPerInput { get; init; } = 512;

    /// <summary>Embedding inputs decoded together (the embedding context's sequences).</summary>
    public int EmbeddingInputsPerDecode { get; init; } = 8;

    /// <summary>CPU threads per decode (0: all cores).</summary>
    public int Threads { get; init; }

    /// <summary>
    /// Hysteresis: once resident, a model keeps serving at least this long even when others wait, so two busy models
    /// do not thrash the device by swapping on every request.
    /// </summary>
    public TimeSpan MinResidency { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Starvation bound: when another model's request has waited this long, a resident model stops admitting new
    /// work, finishes what it runs and releases the device.
    /// </summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Deadline of a queued request: one that has not started this long after it was accepted fails with a timeout.</summary>
    public TimeSpan MaxQueueWait { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Fair service inside a model: when every slot of the batch is busy and a generation waits, a sequence that has
    /// generated this many tokens since it got its slot gives it up (it is parked and resumes later, unchanged). A
    /// request at the head of the queue therefore waits at most about this many decode steps for a slot.
    /// </summary>
    public int FairShareTokens { get; init; } = 256;

    /// <summary>
    /// Prefix reuse: most tokens the KV cells of finished sequences keep per model context for later prompts that start
    /// with them (a chat's next turn), least recently used dropped first. Null: all the context holds; 0: off.
    /// </summary>
    public int? PrefixCacheTokens { get; init; }

    /// <summary>
    /// Host memory per model context for its most recently used cached sequences when the context is released (its
    /// model's contexts freed for room, or evicted on the reload path); they are put back into the next context, so the
    /// next turn after a swap is still a cache hit. 0: nothing is saved.
    /// </summary>
    public long HostKvBudgetBytes { get; init; } = 256L << 20;

    /// <summary>Test seam: called with the model's name at each stage of its worker's loop; an exception thrown here is a fault at that stage.</summary>
    internal Action<string, WorkerStage>? FaultInjection { get; init; }

    /// <summary>Clock, decoder and threads of the workers: the system and llama.cpp, or the simulator's virtual clock and cost model.</summary>
    public SchedulerRuntime Runtime { get; init; } = SchedulerRuntime.Default;

    /// <summary>How long an idle worker keeps its lease, gathering newly arrived requests before releasing.</summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(20);
}

/// <summary>Stages of a model worker's loop (where <see cref="SchedulerOptions.FaultInjection"/> can fault it).</summary>
internal enum WorkerStage
{
    /// <summary>Acquiring the model's lease (swap-in).</summary>
    Lease,

    /// <summary>Creating the batch's context.</summary>
    Context,

    /// <summary>Taking a request off the queue into the batch.</summary>
    Admit,

    /// <summary>One decode step of the batch.</summary>
    Step,

    /// <summary>Embedding the waiting embedding requests.</summary>
    Embed,

    /// <summary>Handing generated text to a request's sink.</summary>
    Deliver,
}
