using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Threading.Channels;
using ModelRouter.Protocol;

namespace ModelRouter.Client;

public sealed partial class ModelRouterClient
{
    /// <summary>
    /// Streams a generation: text chunks as the server produces them, then one final chunk whose
    /// <see cref="GenerationChunk.Result"/> carries the done frame's statistics. Cancelling the token, or leaving the
    /// enumeration early, sends a cancel frame for the request.
    /// </summary>
    /// <exception cref="ModelRouterException">An error frame (unknown model, overloaded, ...) or a local limit check.</exception>
    /// <exception cref="ModelRouterConnectionException">The connection was lost before the generation ended.</exception>
    public IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerateRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return StreamAsync(request, static (client, r) => client.CheckGenerate(r), static (w, id, r) => FrameWriter.WriteGenerate(w, id, r), cancellationToken);
    }

    /// <summary>
    /// Streams the next assistant message of a conversation (chat frame: the server renders the messages with the
    /// model's chat template). Exactly like <see cref="GenerateAsync"/>: text chunks, then one final chunk with the
    /// statistics; cancelling or leaving early sends a cancel frame.
    /// </summary>
    /// <exception cref="ModelRouterException">An error frame, or a local check (no messages, an unknown role, contents over the server's max prompt bytes).</exception>
    /// <exception cref="ModelRouterConnectionException">The connection was lost before the generation ended.</exception>
    public IAsyncEnumerable<GenerationChunk> ChatAsync(ChatGenerateRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return StreamAsync(request, static (client, r) => client.CheckChat(r), static (w, id, r) => FrameWriter.WriteChat(w, id, r), cancellationToken);
    }

    /// <summary>Generates to the end and returns the whole text with the statistics.</summary>
    public Task<GenerationResult> CompleteAsync(GenerateRequest request, CancellationToken cancellationToken = default) =>
        CollectAsync(GenerateAsync(request, cancellationToken));

    /// <summary>Generates the next assistant message to the end and returns its whole text with the statistics.</summary>
    public Task<GenerationResult> CompleteChatAsync(ChatGenerateRequest request, CancellationToken cancellationToken = default) =>
        CollectAsync(ChatAsync(request, cancellationToken));

    /// <summary>The one streaming path of generate and chat: local checks (on first enumeration), send, chunks, cancel.</summary>
    private async IAsyncEnumerable<GenerationChunk> StreamAsync<TRequest>(
        TRequest request, Action<ModelRouterClient, TRequest> check, Action<IBufferWriter<byte>, uint, TRequest> write,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        check(this, request);
        var stream = new StreamingRequest(options.MaxBufferedChunksPerRequest);
        await SendAsync(stream, request, write, cancellationToken).ConfigureAwait(false);
        var finished = false;
        try
        {
            while (true)
            {
                GenerationChunk chunk;
                try
                {
                    chunk = await stream.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (ChannelClosedException ex)
                {
                    finished = true;
                    if (ex.InnerException is not null)
                    {
                        ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
                    }

                    throw ConnectionClosed();
                }

                finished = chunk.IsFinal;
                yield return chunk;
                if (finished)
                {
                    yield break;
                }
            }
        }
        finally
        {
            if (!finished)
            {
                stream.Abandon();
                await SendCancelAsync(stream).ConfigureAwait(false);
            }
        }
    }

    private async Task<GenerationResult> CollectAsync(IAsyncEnumerable<GenerationChunk> chunks)
    {
        var text = new StringBuilder();
        await foreach (var chunk in chunks.ConfigureAwait(false))
        {
            if (chunk.Result is { } result)
            {
                return new GenerationResult { Model = result.Model, TaskType = result.TaskType, Node = result.Node, Placement = result.Placement, Stats = result.Stats, Text = text.ToString() };
            }

            text.Append(chunk.Text);
        }

        throw ConnectionClosed();
    }

    /// <summary>Asks the router which model would serve the prompt, without generating.</summary>
    public Task<RouteDecision> RouteAsync(RouteRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckText(request.Prompt, "prompt");
        CheckPayload(PayloadSize.Route(request));
        return UnaryAsync(
            FrameType.RouteResult, static (p, in l) => MessageReader.ReadRouteResult(p, l),
            request, static (w, id, r) => FrameWriter.WriteRoute(w, id, r), cancellationToken);
    }

    /// <summary>Routes a prompt with no hints.</summary>
    public Task<RouteDecision> RouteAsync(string prompt, CancellationToken cancellationToken = default) =>
        RouteAsync(new RouteRequest { Prompt = prompt }, cancellationToken);

    /// <summary>Embeds a text into one pooled vector.</summary>
    public Task<EmbeddingResult> EmbedAsync(EmbedRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckText(request.Text, "text");
        CheckPayload(PayloadSize.Embed(request));
        return UnaryAsync(
            FrameType.EmbedResult, static (p, in l) => MessageReader.ReadEmbedResult(p, l).ToResult(),
            request, static (w, id, r) => FrameWriter.WriteEmbed(w, id, r), cancellationToken);
    }

    /// <summary>Embeds a text with the given model (or the server's default embedding model), normalised.</summary>
    public Task<EmbeddingResult> EmbedAsync(string text, string? model = null, CancellationToken cancellationToken = default) =>
        EmbedAsync(new EmbedRequest { Text = text, Model = model }, cancellationToken);

    /// <summary>The catalog: every model with its tier, state, size and capabilities.</summary>
    public async Task<IReadOnlyList<ModelInfo>> ListModelsAsync(CancellationToken cancellationToken = default) =>
        await UnaryAsync(
            FrameType.ModelList, static (p, in l) => MessageReader.ReadModelList(p, l),
            0, static (w, id, _) => FrameWriter.WriteListModels(w, id), cancellationToken).ConfigureAwait(false);

    /// <summary>Server-wide statistics.</summary>
    public Task<ServerStats> GetStatsAsync(CancellationToken cancellationToken = default) =>
        UnaryAsync(
            FrameType.Stats, static (p, in l) => MessageReader.ReadStats(p, l),
            0, static (w, id, _) => FrameWriter.WriteGetStats(w, id), cancellationToken);

    /// <summary>An admin operation; needs a connection authenticated with the admin token.</summary>
    /// <exception cref="ModelRouterException"><see cref="ErrorCode.AdminRequired"/> on a non-admin connection.</exception>
    public Task<AdminResult> AdminAsync(AdminOperation operation, string model, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        return UnaryAsync(
            FrameType.AdminResult, static (p, in l) => MessageReader.ReadAdminResult(p, l),
            (operation, model), static (w, id, s) => FrameWriter.WriteAdmin(w, id, s.operation, s.model), cancellationToken);
    }

    /// <summary>Brings a model into the GPU tier ahead of use.</summary>
    public Task<AdminResult> PreloadAsync(string model, CancellationToken cancellationToken = default) =>
        AdminAsync(AdminOperation.Preload, model, cancellationToken);

    /// <summary>Keeps a model resident: the scheduler never swaps it out.</summary>
    public Task<AdminResult> PinAsync(string model, CancellationToken cancellationToken = default) =>
        AdminAsync(AdminOperation.Pin, model, cancellationToken);

    /// <summary>Lets the scheduler swap a pinned model out again.</summary>
    public Task<AdminResult> UnpinAsync(string model, CancellationToken cancellationToken = default) =>
        AdminAsync(AdminOperation.Unpin, model, cancellationToken);

    /// <summary>Moves a model out of the GPU tier now.</summary>
    public Task<AdminResult> EvictAsync(string model, CancellationToken cancellationToken = default) =>
        AdminAsync(AdminOperation.Evict, model, cancellationToken);

    /// <summary>A ping round trip through the server's read loop.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken = default)
    {
        var start = Stopwatch.GetTimestamp();
        var value = (ulong)start;
        var echoed = await UnaryAsync(
            FrameType.Pong, static (p, in _) => MessageReader.ReadPing(p),
            value, static (w, id, v) => FrameWriter.WritePing(w, id, v), cancellationToken).ConfigureAwait(false);
        if (echoed != value)
        {
            throw new ModelRouterException(ErrorCode.BadFrame, "the pong does not echo the ping");
        }

        return Stopwatch.GetElapsedTime(start);
    }

    private async Task<T> UnaryAsync<T, TState>(
        FrameType expected, PayloadParser<T> parse, TState state, Action<IBufferWriter<byte>, uint, TState> write,
        CancellationToken cancellationToken)
    {
        var request = new UnaryRequest<T>(expected, parse);
        await SendAsync(request, state, write, cancellationToken).ConfigureAwait(false);
        try
        {
            return await request.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !request.Task.IsCompleted)
        {
            request.Abandon();
            await SendCancelAsync(request).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits for an in-flight slot, registers a fresh request id and writes the request frame.</summary>
    private async Task SendAsync<TState>(
        PendingRequest request, TState state, Action<IBufferWriter<byte>, uint, TState> write, CancellationToken cancellationToken)
    {
        if (!IsConnected)
        {
            throw ConnectionClosed();
        }

        if (IsDraining)
        {
            throw new ModelRouterException(ErrorCode.ShuttingDown, "the server is draining and accepts no new requests");
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, closing.Token);
        try
        {
            await slots.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw ConnectionClosed();
        }

        do
        {
            request.Id = Interlocked.Increment(ref nextId);
        }
        while (request.Id == ProtocolConstants.ConnectionRequestId || !pending.TryAdd(request.Id, request));

        try
        {
            await writeLock.WaitAsync(linked.Token).ConfigureAwait(false);
            try
            {
                if (!IsConnected)
                {
                    throw ConnectionClosed();
                }

                write(writer, request.Id, state);
                // Not cancellable: a flush abandoned halfway would leave half a frame on the wire.
                var flush = await writer.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    throw ConnectionClosed();
                }
            }
            finally
            {
                writeLock.Release();
            }
        }
        catch (Exception ex)
        {
            if (pending.TryRemove(new KeyValuePair<uint, PendingRequest>(request.Id, request)))
            {
                slots.Release();
            }

            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            if (closing.IsCancellationRequested)
            {
                throw ConnectionClosed();
            }

            if (ex is ModelRouterException)
            {
                throw;
            }

            throw new ModelRouterConnectionException($"sending the request failed: {ex.Message}", ex);
        }
    }

    /// <summary>Best effort: the request is abandoned either way; its slot frees when the server's terminal frame arrives.</summary>
    private async Task SendCancelAsync(PendingRequest request)
    {
        if (!IsConnected || request.IsCompleted)
        {
            return;
        }

        try
        {
            await writeLock.WaitAsync(closing.Token).ConfigureAwait(false);
            try
            {
                if (IsConnected)
                {
                    FrameWriter.WriteCancel(writer, request.Id);
                    await writer.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
            finally
            {
                writeLock.Release();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection is going away; closing fails the request anyway.
        }
    }

    private void CheckGenerate(GenerateRequest request)
    {
        CheckText(request.Prompt, "prompt");
        CheckMaxTokens(request.MaxTokens);
        CheckPayload(PayloadSize.Generate(request));
    }

    private void CheckChat(ChatGenerateRequest request)
    {
        var messages = request.Messages;
        ArgumentNullException.ThrowIfNull(messages, nameof(request));
        if (messages.Count == 0 || messages.Count > sendLimits.MaxChatMessages)
        {
            throw new ModelRouterException(ErrorCode.InvalidArgument, $"a chat has 1 to {sendLimits.MaxChatMessages} messages, this one {messages.Count}");
        }

        long contentBytes = 0;
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            if (!ChatRoles.IsDefined(message.Role))
            {
                throw new ModelRouterException(ErrorCode.InvalidArgument, $"message {i} has the role '{message.Role}'; a role is system, user, assistant or tool");
            }

            contentBytes += Encoding.UTF8.GetByteCount(message.Content ?? "");
        }

        if (contentBytes > sendLimits.MaxPromptBytes)
        {
            throw new ModelRouterException(ErrorCode.PromptTooLong, $"the messages' contents ({contentBytes} bytes) exceed the server's {sendLimits.MaxPromptBytes} bytes");
        }

        CheckMaxTokens(request.MaxTokens);
        CheckPayload(PayloadSize.Chat(request));
    }

    private void CheckMaxTokens(int maxTokens)
    {
        if (maxTokens < 0 || maxTokens > sendLimits.MaxTokens)
        {
            throw new ModelRouterException(ErrorCode.MaxTokensExceeded, $"max tokens {maxTokens} is outside 0..{sendLimits.MaxTokens}");
        }
    }

    private void CheckText(string text, string field)
    {
        ArgumentNullException.ThrowIfNull(text, field);
        if (text.Length == 0)
        {
            throw new ModelRouterException(ErrorCode.InvalidArgument, $"empty {field}");
        }

        if (text.Length > sendLimits.MaxPromptBytes / 3 && Encoding.UTF8.GetByteCount(text) > sendLimits.MaxPromptBytes)
        {
            throw new ModelRouterException(ErrorCode.PromptTooLong, $"the {field} exceeds the server's {sendLimits.MaxPromptBytes} bytes");
        }
    }

    private void CheckPayload(int payloadBytes)
    {
        if (payloadBytes > sendLimits.MaxPayloadBytes)
        {
            throw new ModelRouterException(ErrorCode.FrameTooLarge, $"the request is {payloadBytes} bytes, the server accepts {sendLimits.MaxPayloadBytes}");
        }
    }
}
