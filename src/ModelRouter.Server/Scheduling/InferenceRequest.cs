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

/// <summary>Stable failure kinds a request can end with (mapped to wire error codes by the connection).</summary>
public enum RequestError
{
    UnknownModel,
    ModelUnavailable,
    PromptTooLong,
    InvalidArgument,
    Overloaded,
    Cancelled,
    Internal,
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
    double TokensPerSecond);

/// <summary>One generation request on its way through the scheduler.</summary>
public sealed class InferenceRequest
{
    public InferenceRequest(ulong id, string model, GenerationRequest generation, IResponseSink sink, CancellationToken cancellation)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(sink);
        Id = id;
        Model = model;
        Generation = generation;
        Sink = sink;
        Cancellation = cancellation;
        EnqueuedTimestamp = Stopwatch.GetTimestamp();
    }

    public ulong Id { get; }

    public string Model { get; }

    public GenerationRequest Generation { get; }

    public IResponseSink Sink { get; }

    public CancellationToken Cancellation { get; }

    /// <summary>Time the router took to choose the model (zero when the client named it).</summary>
    public TimeSpan RouteTime { get; init; }

    public long EnqueuedTimestamp { get; }
}
