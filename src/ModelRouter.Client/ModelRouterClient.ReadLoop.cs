using ModelRouter.Protocol;

namespace ModelRouter.Client;

public sealed partial class ModelRouterClient
{
    private async Task ReadLoopAsync()
    {
        Exception? failure = null;
        var limits = options.ReceiveLimits;
        try
        {
            while (failure is null)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    failure = closeReason ?? new ModelRouterConnectionException("the client was disposed");
                    break;
                }

                var buffer = result.Buffer;
                try
                {
                    while (true)
                    {
                        Frame frame;
                        try
                        {
                            if (!FrameReader.TryReadFrame(ref buffer, limits, out frame))
                            {
                                break;
                            }
                        }
                        catch (ProtocolException ex) when (!ex.IsFatal)
                        {
                            continue; // a frame type this client does not know: skipped (the buffer is past it)
                        }

                        var delivery = Dispatch(frame, limits);
                        if (!delivery.IsCompletedSuccessfully)
                        {
                            await delivery.ConfigureAwait(false);
                        }

                        if (closing.IsCancellationRequested)
                        {
                            failure = ConnectionClosed();
                            break;
                        }
                    }

                    if (failure is null && result.IsCompleted)
                    {
                        failure = connectionError ?? new ModelRouterConnectionException(buffer.IsEmpty
                            ? "the server closed the connection"
                            : "the server closed the connection in the middle of a frame");
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        catch (ProtocolException ex)
        {
            failure = new ModelRouterConnectionException(ex.Code, $"the server sent a malformed frame: {ex.Message}", ex);
        }
        catch (Exception ex)
        {
            // Socket errors, a disposed stream, or a bug: whatever ends the loop fails the pending requests with it.
            failure = connectionError ?? new ModelRouterConnectionException($"the connection failed: {ex.Message}", ex);
        }
        finally
        {
            await CloseAsync(failure ?? new ModelRouterConnectionException("the connection closed")).ConfigureAwait(false);
        }
    }

    private ModelRouterConnectionException? connectionError;

    private ValueTask Dispatch(in Frame frame, in ProtocolLimits limits)
    {
        if (frame.RequestId == ProtocolConstants.ConnectionRequestId || frame.Type is FrameType.Ping or FrameType.GoAway)
        {
            return DispatchConnectionFrame(frame);
        }

        if (!pending.TryGetValue(frame.RequestId, out var request))
        {
            return default; // a late frame of a request already retired
        }

        var delivery = request.DeliverAsync(frame, limits);
        if (request.IsCompleted)
        {
            Retire(request);
        }

        return delivery;
    }

    private ValueTask DispatchConnectionFrame(in Frame frame)
    {
        using var payload = frame.LeasePayload();
        switch (frame.Type)
        {
            case FrameType.Error:
                var error = MessageReader.ReadError(payload.Span);
                connectionError = new ModelRouterConnectionException(error.Code, $"the server closed the connection: {error.GetMessage()}");
                closeReason ??= connectionError;
                return default;
            case FrameType.GoAway:
                Volatile.Write(ref draining, 1);
                return default;
            case FrameType.Ping:
                // Not awaited: waiting here for the write lock could deadlock with a sender whose flush waits for
                // the server, which waits for us to read.
                _ = SendPongAsync(frame.RequestId, MessageReader.ReadPing(payload.Span));
                return default;
            default:
                return default;
        }
    }

    private void Retire(PendingRequest request)
    {
        if (pending.TryRemove(new KeyValuePair<uint, PendingRequest>(request.Id, request)))
        {
            slots.Release();
        }
    }

    private async Task SendPongAsync(uint requestId, ulong value)
    {
        try
        {
            await writeLock.WaitAsync(closing.Token).ConfigureAwait(false);
            try
            {
                if (IsConnected)
                {
                    FrameWriter.WritePong(writer, requestId, value);
                    await writer.FlushAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                writeLock.Release();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection is closing.
        }
    }
}
