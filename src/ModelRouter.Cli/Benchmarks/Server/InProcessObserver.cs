using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Benchmarks.Server;

/// <summary>
/// The in-process side of the doors' comparison: receives one generation's results straight from
/// <see cref="RequestPipeline"/>, as a door does, but with no wire, no JSON and no async stream behind it: validation,
/// the in-flight slot, routing (model "auto"), the scheduler and the model, nothing else. One request at a time.
/// </summary>
internal sealed class InProcessObserver : IGenerationObserver
{
    private TaskCompletionSource<GenerationDone> completion = NewCompletion();

    public int TextPieces { get; private set; }

    public Task<GenerationDone> Next()
    {
        TextPieces = 0;
        completion = NewCompletion();
        return completion.Task;
    }

    public void OnRouted(RouteOutcome route)
    {
    }

    public void OnText(ReadOnlySpan<byte> utf8) => TextPieces++;

    public void OnCompleted(GenerationDone done) => completion.TrySetResult(done);

    public void OnFailed(RequestError failure, string message) =>
        completion.TrySetException(new InvalidOperationException($"in-process pipeline request failed ({failure}): {message}"));

    private static TaskCompletionSource<GenerationDone> NewCompletion() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
