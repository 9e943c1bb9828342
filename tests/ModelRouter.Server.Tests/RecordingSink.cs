using System.Collections.Concurrent;
using System.Text;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Tests;

/// <summary>Collects each request's text and outcome, and lets a test await them.</summary>
internal sealed class RecordingSink : IResponseSink
{
    private readonly ConcurrentDictionary<ulong, StringBuilder> texts = new();
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<Outcome>> outcomes = new();

    public Action<ulong, int>? OnChunk { get; set; }

    public void OnText(ulong requestId, ReadOnlySpan<byte> utf8)
    {
        var text = texts.GetOrAdd(requestId, _ => new StringBuilder());
        int chunks;
        lock (text)
        {
            text.Append(Encoding.UTF8.GetString(utf8));
            chunks = text.Length;
        }

        OnChunk?.Invoke(requestId, chunks);
    }

    public void OnCompleted(ulong requestId, CompletionStats stats) => Pending(requestId).TrySetResult(new Outcome(Text(requestId), stats, null, null));

    public void OnFailed(ulong requestId, RequestError failure, string message) => Pending(requestId).TrySetResult(new Outcome(Text(requestId), null, failure, message));

    public Task<Outcome> WhenDone(ulong requestId) => Pending(requestId).Task;

    private TaskCompletionSource<Outcome> Pending(ulong id) => outcomes.GetOrAdd(id, _ => new TaskCompletionSource<Outcome>(TaskCreationOptions.RunContinuationsAsynchronously));

    private string Text(ulong id) => texts.TryGetValue(id, out var text) ? text.ToString() : "";

    public sealed record Outcome(string Text, CompletionStats? Stats, RequestError? Error, string? Message);
}
