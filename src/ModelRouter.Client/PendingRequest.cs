using System.Threading.Channels;
using ModelRouter.Protocol;

namespace ModelRouter.Client;

/// <summary>A request waiting for its answer frames. Delivery runs on the connection's read loop.</summary>
internal abstract class PendingRequest
{
    private int completed;

    public uint Id { get; set; }

    /// <summary>The terminal frame arrived (or the request failed): the id can be retired and its slot released.</summary>
    public bool IsCompleted => Volatile.Read(ref completed) != 0;

    /// <summary>The caller stopped waiting (cancelled); frames still arriving are dropped until the terminal one.</summary>
    public bool IsAbandoned { get; private set; }

    /// <summary>
    /// Parses <paramref name="frame"/> synchronously (its payload is only valid during this call) and hands the result
    /// to the caller; the returned task completes when the caller has room for it (backpressure).
    /// </summary>
    public abstract ValueTask DeliverAsync(in Frame frame, in ProtocolLimits limits);

    /// <summary>Fails the request (connection lost); idempotent.</summary>
    public abstract void Fail(Exception exception);

    public virtual void Abandon() => IsAbandoned = true;

    protected bool MarkCompleted() => Interlocked.Exchange(ref completed, 1) == 0;

    protected static ModelRouterException ToException(in Frame frame, uint requestId)
    {
        using var payload = frame.LeasePayload();
        var error = MessageReader.ReadError(payload.Span);
        return new ModelRouterException(error.Code, error.GetMessage(), requestId);
    }

    protected static ModelRouterException Unexpected(in Frame frame, uint requestId) =>
        new(ErrorCode.UnexpectedFrame, $"unexpected {frame.Type} frame for request {requestId}", requestId);

    protected static ModelRouterException Malformed(ProtocolException exception, uint requestId) =>
        new(exception.Code, $"the server sent a malformed frame: {exception.Message}", requestId, exception);
}

/// <summary>A streamed generation: token chunks into a bounded channel, then the final result.</summary>
internal sealed class StreamingRequest : PendingRequest
{
    private readonly Channel<GenerationChunk> channel;

    public StreamingRequest(int capacity)
    {
        channel = Channel.CreateBounded<GenerationChunk>(new BoundedChannelOptions(Math.Max(1, capacity))
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public ChannelReader<GenerationChunk> Reader => channel.Reader;

    public override ValueTask DeliverAsync(in Frame frame, in ProtocolLimits limits)
    {
        GenerationChunk chunk;
        try
        {
            switch (frame.Type)
            {
                case FrameType.TokenChunk:
                    chunk = ReadChunk(frame);
                    break;
                case FrameType.Done:
                    chunk = ReadDone(frame, limits);
                    MarkCompleted();
                    break;
                case FrameType.Error:
                    Fail(ToException(frame, Id));
                    return default;
                default:
                    Fail(Unexpected(frame, Id));
                    return default;
            }
        }
        catch (ProtocolException ex)
        {
            Fail(Malformed(ex, Id));
            return default;
        }

        if (IsAbandoned)
        {
            return default;
        }

        if (channel.Writer.TryWrite(chunk))
        {
            if (chunk.IsFinal)
            {
                channel.Writer.TryComplete();
            }

            return default;
        }

        return WriteSlowAsync(chunk);
    }

    public override void Fail(Exception exception)
    {
        MarkCompleted();
        channel.Writer.TryComplete(exception);
    }

    public override void Abandon()
    {
        base.Abandon();
        channel.Writer.TryComplete();
    }

    private async ValueTask WriteSlowAsync(GenerationChunk chunk)
    {
        try
        {
            await channel.Writer.WriteAsync(chunk).ConfigureAwait(false);
            if (chunk.IsFinal)
            {
                channel.Writer.TryComplete();
            }
        }
        catch (ChannelClosedException)
        {
            // Abandoned while the read loop waited for room: the chunk has nobody to go to.
        }
    }

    private static GenerationChunk ReadChunk(in Frame frame)
    {
        using var payload = frame.LeasePayload();
        var chunk = MessageReader.ReadTokenChunk(payload.Span);
        return new GenerationChunk(chunk.GetText(), chunk.TokenCount, null);
    }

    private static GenerationChunk ReadDone(in Frame frame, in ProtocolLimits limits)
    {
        using var payload = frame.LeasePayload();
        var done = MessageReader.ReadDone(payload.Span, limits);
        var result = new GenerationResult
        {
            Model = System.Text.Encoding.UTF8.GetString(done.Model),
            TaskType = System.Text.Encoding.UTF8.GetString(done.TaskType),
            Node = System.Text.Encoding.UTF8.GetString(done.Node),
            Placement = System.Text.Encoding.UTF8.GetString(done.Placement),
            Stats = done.Stats,
        };
        return new GenerationChunk("", 0, result);
    }
}

/// <summary>Parses the payload of the expected answer frame.</summary>
internal delegate T PayloadParser<out T>(ReadOnlySpan<byte> payload, in ProtocolLimits limits);

/// <summary>A request answered by one frame of an expected type (or an error).</summary>
internal sealed class UnaryRequest<T> : PendingRequest
{
    private readonly TaskCompletionSource<T> completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FrameType expected;
    private readonly PayloadParser<T> parse;

    public UnaryRequest(FrameType expected, PayloadParser<T> parse)
    {
        this.expected = expected;
        this.parse = parse;
    }

    public Task<T> Task => completion.Task;

    public override ValueTask DeliverAsync(in Frame frame, in ProtocolLimits limits)
    {
        MarkCompleted();
        try
        {
            if (frame.Type == expected)
            {
                using var payload = frame.LeasePayload();
                completion.TrySetResult(parse(payload.Span, limits));
            }
            else if (frame.Type == FrameType.Error)
            {
                completion.TrySetException(ToException(frame, Id));
            }
            else
            {
                completion.TrySetException(Unexpected(frame, Id));
            }
        }
        catch (ProtocolException ex)
        {
            completion.TrySetException(Malformed(ex, Id));
        }

        return default;
    }

    public override void Fail(Exception exception)
    {
        MarkCompleted();
        completion.TrySetException(exception);
    }
}
