using System.Diagnostics;
using ModelRouter.Runtime.Generation;

namespace ModelRouter.Server.Scheduling;

/// <summary>Where a request's output goes: the connection that asked for it. Called from the model's worker thread.</summary>
public interface IResponseSink
{
    /// <summary>A piece of generated UTF-8 text (complete characters; copy it, the span is reused).</summary>
    void OnText(ulong requestId, ReadOnlySpan<byte> utf8);

    /// <summary>The request finished (any reason, cancellation included).</summary>
    void OnCompleted(ulong requestId, CompletionStats stats);

    /// <summary>The request failed; nothing more will come for it.</summary>
    void OnFailed(ulong requestId, RequestError failure, string message);
}

/// <summary>Stable failure kinds a request can end with (each door maps them to its wire: error codes, HTTP statuses).</summary>
public enum RequestError
{
    UnknownModel,
    ModelUnavailable,
    PromptTooLong,
    InvalidArgument,
    Overloaded,
    Cancelled,
    Internal,

    /// <summary>max_tokens above the server's limit.</summary>
    MaxTokensExceeded,

    /// <summary>No model can serve the request under its hints (e.g. a capability nobody has).</summary>
    NoRouteMatched,

    /// <summary>An admin operation without the admin token.</summary>
    AdminRequired,

    /// <summary>The server is draining: it finishes what it has and takes nothing new.</summary>
    ShuttingDown,

    /// <summary>The request waited longer than its deadline (MaxQueueWaitSeconds) without starting.</summary>
    Timeout,
}

/// <summary>What a finished request reports with its done frame.</summary>
public sealed record CompletionStats(
    string Model,
    FinishReason FinishReason,
    TimeSpan RouteTime,
    TimeSpan QueueWait,
    TimeSpan? SwapTime,
    TimeSpan? TimeToFirstToken,
    int PromptTokens,
    int GeneratedTokens,
    double TokensPerSecond,
    int CachedPromptTokens = 0);

/// <summary>
/// Work for one model's worker: a generation or an embedding. Queued per model, served while the worker holds the
/// model's lease, and ended exactly once: completed by the worker, or failed with <see cref="Fail"/>.
/// </summary>
public abstract class ScheduledWork : Requests.ILiveRequest
{
    protected ScheduledWork(ulong id, string model, CancellationToken cancellation)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        Id = id;
        Model = model;
        Cancellation = cancellation;
        EnqueuedTimestamp = Stopwatch.GetTimestamp();
    }

    /// <summary>The request pipeline's number for the request (logs only).</summary>
    public ulong Id { get; }

    public string Model { get; }

    public CancellationToken Cancellation { get; }

    /// <summary>Time the router took to choose the model (zero when the client named it).</summary>
    public TimeSpan RouteTime { get; init; }

    /// <summary>When it was queued, on the scheduler's clock (stamped again by <see cref="Scheduler.TrySubmit"/>).</summary>
    public long EnqueuedTimestamp { get; internal set; }

    /// <summary>Ends the work with an error (refused, cancelled before it started, model unavailable, shutdown).</summary>
    public abstract void Fail(RequestError failure, string message);
}

/// <summary>One generation request on its way through the scheduler.</summary>
public sealed class InferenceRequest : ScheduledWork
{
    public InferenceRequest(ulong id, string model, GenerationRequest generation, IResponseSink sink, CancellationToken cancellation)
        : base(id, model, cancellation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(sink);
        Generation = generation;
        Sink = sink;
    }

    public GenerationRequest Generation { get; }

    public IResponseSink Sink { get; }

    public override void Fail(RequestError failure, string message) => Sink.OnFailed(Id, failure, message);
}

/// <summary>
/// Texts to embed with one model: the worker embeds them between decode steps, several per decode, and completes
/// <see cref="Completion"/> with the vectors in input order.
/// </summary>
public sealed class EmbeddingRequest : ScheduledWork
{
    public EmbeddingRequest(ulong id, string model, IReadOnlyList<string> inputs, bool normalize, CancellationToken cancellation)
        : base(id, model, cancellation)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Inputs = inputs;
        Normalize = normalize;
    }

    public IReadOnlyList<string> Inputs { get; }

    public bool Normalize { get; }

    public TaskCompletionSource<EmbeddingVectors> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Fail(RequestError failure, string message) => Completion.TrySetException(new Requests.RequestException(failure, message));
}

/// <summary>Vectors of an <see cref="EmbeddingRequest"/> (each <see cref="Dimensions"/> floats, in input order) with their costs.</summary>
public sealed record EmbeddingVectors(string Model, int Dimensions, float[] Vectors, int[] PromptTokens, TimeSpan QueueWait, TimeSpan? SwapTime)
{
    public int Count => PromptTokens.Length;

    public ReadOnlySpan<float> Vector(int index) => Vectors.AsSpan(index * Dimensions, Dimensions);

    public int TotalPromptTokens => PromptTokens.Sum();
}
