using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Benchmarks.Server;

/// <summary>The in-process side of the comparison: receives one request's output straight from the scheduler, as a
/// connection does, but without framing or a socket. One request at a time.</summary>
internal sealed class InProcessSink : IResponseSink
{
    private TaskCompletionSource<CompletionStats> completion = NewCompletion();

    public int TextPieces { get; private set; }

    public Task<CompletionStats> Next()
    {
        TextPieces = 0;
        completion = NewCompletion();
        return completion.Task;
    }

    public void OnText(ulong requestId, ReadOnlySpan<byte> utf8) => TextPieces++;

    public void OnCompleted(ulong requestId, CompletionStats stats) => completion.TrySetResult(stats);

    public void OnFailed(ulong requestId, RequestError failure, string message) =>
        completion.TrySetException(new InvalidOperationException($"in-process request {requestId} failed ({failure}): {message}"));

    private static TaskCompletionSource<CompletionStats> NewCompletion() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
