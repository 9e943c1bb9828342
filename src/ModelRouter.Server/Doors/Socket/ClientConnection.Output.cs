using System.Diagnostics;
using ModelRouter.Protocol;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>
/// The outbound half: frames are written under a lock into an in-memory pipe (workers never block on a slow
/// socket) and a pump sends them. The bytes waiting are counted: above the pause threshold the read loop stops
/// taking requests; above sixteen times it, the connection's generations are cancelled as a slow consumer.
/// </summary>
public sealed partial class ClientConnection
{
    private const int SlowConsumerFactor = 16;

    /// <summary>A token chunk frame, unless the client has fallen too far behind (then its request is cancelled).</summary>
    private void WriteText(uint requestId, ReadOnlySpan<byte> utf8)
    {
        if (Interlocked.Read(ref pendingOutputBytes) > server.Options.Limits.OutputPauseThresholdBytes * SlowConsumerFactor)
        {
            if (inFlight.TryGetValue(requestId, out var request))
            {
                CancelRequest(request); // the worker finishes it as cancelled on its next step
            }

            return;
        }

        lock (writeGate)
        {
            if (outputClosed)
            {
                return;
            }

            if (System.Text.Unicode.Utf8.IsValid(utf8))
            {
                FrameWriter.WriteTokenChunk(output.Writer, requestId, utf8);
            }
            else
            {
                // A model can emit byte tokens that do not form valid UTF-8; the wire carries text only, so the
                // invalid sequences become U+FFFD (rare path: it allocates).
                FrameWriter.WriteTokenChunk(output.Writer, requestId, System.Text.Encoding.UTF8.GetString(utf8).AsSpan());
            }

            Commit();
        }
    }

    private void WriteDone(uint requestId, GenerationDone done, RouteOutcome? route)
    {
        var stage = WireStage(route);
        var wire = new GenerationStats
        {
            FinishReason = done.FinishReason switch
            {
                Runtime.Generation.FinishReason.EndOfGeneration => FinishReason.EndOfText,
                Runtime.Generation.FinishReason.MaxTokens => FinishReason.MaxTokens,
                Runtime.Generation.FinishReason.StopString => FinishReason.StopSequence,
                Runtime.Generation.FinishReason.Cancelled => FinishReason.Cancelled,
                Runtime.Generation.FinishReason.ContextFull => FinishReason.ContextFull,
                _ => FinishReason.Unknown,
            },
            PromptTokens = done.PromptTokens,
            CachedPromptTokens = done.CachedPromptTokens,
            GeneratedTokens = done.GeneratedTokens,
            TokensPerSecond = (float)done.TokensPerSecond,
            RouteNanos = Durations.ToNanos(done.RouteTime),
            QueueWaitNanos = Durations.ToNanos(done.QueueWait),
            SwapNanos = done.SwapTime is { } swap ? Durations.ToNanos(swap) : 0,
            TimeToFirstTokenNanos = done.TimeToFirstToken is { } ttft ? Durations.ToNanos(ttft) : 0,
            TotalNanos = Durations.ToNanos(done.Total),
            Stage = stage,
            StageConfidence = stage == RouteStage.None ? 0f : route!.Confidence,
        };
        lock (writeGate)
        {
            if (!outputClosed)
            {
                FrameWriter.WriteDone(output.Writer, requestId, wire, done.Model, done.Task,
                    withCachedTokens: sessionVersion >= ProtocolConstants.CachedTokensVersion,
                    withNode: sessionVersion >= ProtocolConstants.ServingNodeVersion, node: done.Node, placement: done.Placement);
            }

            EndRequest(requestId); // before the frame is published: the client may reuse the id once it sees the frame
            if (!outputClosed)
            {
                Commit();
            }
        }
    }

    private void WriteFailure(uint requestId, RequestError failure, string message) =>
        WriteError(requestId, ToWire(failure), message, endsRequest: true);

    internal static ErrorCode ToWire(RequestError failure) => failure switch
    {
        RequestError.UnknownModel => ErrorCode.UnknownModel,
        RequestError.ModelUnavailable => ErrorCode.ModelUnavailable,
        RequestError.PromptTooLong => ErrorCode.PromptTooLong,
        RequestError.InvalidArgument => ErrorCode.InvalidArgument,
        RequestError.Overloaded => ErrorCode.Overloaded,
        RequestError.Cancelled => ErrorCode.Cancelled,
        RequestError.MaxTokensExceeded => ErrorCode.MaxTokensExceeded,
        RequestError.NoRouteMatched => ErrorCode.NoRouteMatched,
        RequestError.AdminRequired => ErrorCode.AdminRequired,
        RequestError.ShuttingDown => ErrorCode.ShuttingDown,
        RequestError.Timeout => ErrorCode.Timeout,
        _ => ErrorCode.Internal,
    };

    /// <summary>One generation's results on this connection, under the client's request id.</summary>
    private sealed class SocketGeneration(ClientConnection connection, uint requestId) : IGenerationObserver
    {
        // Set by OnRouted before generation starts, read by OnCompleted on the same run: the pipeline orders them.
        private RouteOutcome? route;

        public void OnRouted(RouteOutcome route)
        {
            // There is no route frame for a generation: the done frame carries the task and (version 2) the stage.
            this.route = route;
        }

        public void OnText(ReadOnlySpan<byte> utf8) => connection.WriteText(requestId, utf8);

        public void OnCompleted(GenerationDone done) => connection.WriteDone(requestId, done, route);

        public void OnFailed(RequestError failure, string message) => connection.WriteFailure(requestId, failure, message);
    }

    /// <summary>An error frame; <paramref name="endsRequest"/>: it is the terminal frame of a registered request.</summary>
    private void WriteError(uint requestId, ErrorCode code, string message, bool endsRequest = false)
    {
        lock (writeGate)
        {
            if (!outputClosed)
            {
                FrameWriter.WriteError(output.Writer, requestId, code, message.Length > 1000 ? message[..1000] : message);
            }

            if (endsRequest)
            {
                EndRequest(requestId);
            }

            if (!outputClosed)
            {
                Commit();
            }
        }
    }

    /// <summary>
    /// Writes one response frame unless the connection is gone (callers hold no lock). A non-zero
    /// <paramref name="endsRequest"/> names the registered request this frame ends: its id is freed before the frame is
    /// published.
    /// </summary>
    private void Send<TState>(TState state, Action<System.IO.Pipelines.PipeWriter, TState> write, uint endsRequest = 0)
    {
        lock (writeGate)
        {
            if (!outputClosed)
            {
                write(output.Writer, state);
            }

            if (endsRequest != 0)
            {
                EndRequest(endsRequest);
            }

            if (!outputClosed)
            {
                Commit();
            }
        }
    }

    /// <summary>Publishes what was written to the in-memory pipe (never pauses: the pump and the counter do the pacing).</summary>
    private void Commit()
    {
        var bytes = output.Writer.UnflushedBytes;
        Interlocked.Add(ref pendingOutputBytes, bytes);
        var flush = output.Writer.FlushAsync();
        Debug.Assert(flush.IsCompleted, "a pipe without a pause threshold completes flushes synchronously");
        _ = flush.IsCompleted ? flush.Result : default;
    }

    private async Task PumpOutputAsync(CancellationToken cancellation)
    {
        try
        {
            while (true)
            {
                var result = await output.Reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await transport.WriteAsync(segment, cancellation).ConfigureAwait(false);
                }

                await transport.FlushAsync(cancellation).ConfigureAwait(false);
                output.Reader.AdvanceTo(buffer.End);
                if (Interlocked.Add(ref pendingOutputBytes, -buffer.Length) <= server.Options.Limits.OutputPauseThresholdBytes)
                {
                    Interlocked.Exchange(ref outputDrained, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                }

                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client is gone: stop reading too, which cancels what it had in flight.
            await closing.CancelAsync().ConfigureAwait(false);
        }
        finally
        {
            await output.Reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask WaitForOutputRoomAsync(CancellationToken cancellation)
    {
        while (true)
        {
            var drained = Volatile.Read(ref outputDrained).Task; // read before the check: a drain in between is not missed
            if (Interlocked.Read(ref pendingOutputBytes) <= server.Options.Limits.OutputPauseThresholdBytes)
            {
                return;
            }

            await drained.WaitAsync(cancellation).ConfigureAwait(false);
        }
    }
}
