using System.Threading.Channels;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>What a generation produced, in order: the route (routed requests), text, then one end.</summary>
public enum GenerationEventKind
{
    Routed,
    Text,

    /// <summary>Pieces of tool calls (<see cref="GenerationEvent.ToolCalls"/>), in order.</summary>
    ToolCalls,
    Completed,
    Failed,
}

/// <summary>
/// One result of a generation. <see cref="Text"/> is valid until the consumer asks for the next event (it is the
/// stream's reused buffer).
/// </summary>
public readonly record struct GenerationEvent(
    GenerationEventKind Kind,
    ReadOnlyMemory<byte> Text = default,
    RouteOutcome? Route = null,
    GenerationDone? Done = null,
    RequestError Error = RequestError.Internal,
    string? Message = null,
    IReadOnlyList<Runtime.Chat.ChatOutputDelta>? ToolCalls = null);

/// <summary>
/// A generation as an async stream of typed results, for doors that write asynchronously (HTTP) and for tests. The
/// worker's text is appended to a buffer and the reader takes everything that arrived since its last read in one
/// event (under load that coalesces tokens instead of queueing one object each); two buffers swap, so steady
/// streaming allocates nothing. A consumer that falls more than <paramref name="maxBufferedBytes"/> behind has its
/// generation cancelled (a slow client must not grow the server's memory).
/// </summary>
public sealed class GenerationResults(int maxBufferedBytes = 1 << 20) : IGenerationObserver, IAsyncEnumerable<GenerationEvent>, IDisposable
{
    private readonly Lock gate = new();
    // The reader's continuation runs on the writer's thread (the model worker, or a chain task): one thread hop less per
    // event. The reader only copies the text into its response pipe and returns at its next await, so the worker
    // loses microseconds, not a decode step.
    private readonly Channel<bool> signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
        AllowSynchronousContinuations = true,
    });
    private readonly CancellationTokenSource cancellation = new();
    private byte[] writing = new byte[256];
    private byte[] reading = new byte[256];
    private int written;
    private RouteOutcome? route;
    private GenerationEvent? end;
    // Tool-call pieces since the last read (rare: chats that offered tools); a new list per read, handed to the reader.
    private List<Runtime.Chat.ChatOutputDelta>? toolCalls;

    /// <summary>Pass this to <see cref="RequestPipeline.StartGeneration"/>: cancelled by <see cref="Cancel"/> or a slow consumer.</summary>
    public CancellationToken Cancellation => cancellation.Token;

    /// <summary>Stops the generation (the client left); the stream then ends as cancelled.</summary>
    public void Cancel()
    {
        try
        {
            cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The request ended and its stream is gone: nothing left to cancel.
        }
    }

    public void OnRouted(RouteOutcome route)
    {
        lock (gate)
        {
            this.route = route;
        }

        signal.Writer.TryWrite(true);
    }

    public void OnText(ReadOnlySpan<byte> utf8)
    {
        lock (gate)
        {
            if (written + utf8.Length > maxBufferedBytes)
            {
                Cancel(); // the worker ends it as cancelled on its next step
                return;
            }

            if (written + utf8.Length > writing.Length)
            {
                Array.Resize(ref writing, Math.Max(writing.Length * 2, written + utf8.Length));
            }

            utf8.CopyTo(writing.AsSpan(written));
            written += utf8.Length;
        }

        signal.Writer.TryWrite(true);
    }

    public void OnToolCall(Runtime.Chat.ChatOutputDelta piece)
    {
        lock (gate)
        {
            (toolCalls ??= []).Add(piece);
        }

        signal.Writer.TryWrite(true);
    }

    public void OnCompleted(GenerationDone done) => End(new GenerationEvent(GenerationEventKind.Completed, Done: done));

    public void OnFailed(RequestError failure, string message) => End(new GenerationEvent(GenerationEventKind.Failed, Error: failure, Message: message));

    private void End(GenerationEvent last)
    {
        lock (gate)
        {
            end ??= last;
        }

        signal.Writer.TryWrite(true);
    }

    public async IAsyncEnumerator<GenerationEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            await signal.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            RouteOutcome? routed;
            GenerationEvent? last;
            List<Runtime.Chat.ChatOutputDelta>? calls;
            int length;
            lock (gate)
            {
                (routed, route) = (route, null);
                (calls, toolCalls) = (toolCalls, null);
                (reading, writing) = (writing, reading);
                (length, written) = (written, 0);
                last = end;
            }

            if (routed is not null)
            {
                yield return new GenerationEvent(GenerationEventKind.Routed, Route: routed);
            }

            if (length > 0)
            {
                yield return new GenerationEvent(GenerationEventKind.Text, Text: reading.AsMemory(0, length));
            }

            // After the text of the same read: every format writes a call's marker after any content before it.
            if (calls is not null)
            {
                yield return new GenerationEvent(GenerationEventKind.ToolCalls, ToolCalls: calls);
            }

            if (last is { } final)
            {
                yield return final;
                yield break;
            }
        }
    }

    /// <summary>Collects the whole answer (tests and non-streaming callers).</summary>
    public async Task<(string Text, RouteOutcome? Route, GenerationEvent End)> ReadToEndAsync(CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        var decoder = System.Text.Encoding.UTF8.GetDecoder();
        RouteOutcome? routed = null;
        await foreach (var item in this.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            switch (item.Kind)
            {
                case GenerationEventKind.Routed:
                    routed = item.Route;
                    break;
                case GenerationEventKind.Text:
                    var chars = new char[decoder.GetCharCount(item.Text.Span, flush: false)];
                    decoder.GetChars(item.Text.Span, chars, flush: false);
                    text.Append(chars);
                    break;
                case GenerationEventKind.ToolCalls:
                    break; // text only: read the events to see calls
                default:
                    return (text.ToString(), routed, item);
            }
        }

        throw new InvalidOperationException("The generation stream ended without a result.");
    }

    public void Dispose() => cancellation.Dispose();
}
