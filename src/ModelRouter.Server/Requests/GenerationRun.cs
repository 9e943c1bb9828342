using System.Buffers;
using System.Diagnostics;
using System.Text;
using ModelRouter.Routing.Fallback;
using ModelRouter.Runtime.Chat;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>
/// One generation between the pipeline and its door: receives the model worker's callbacks (or a remote member's
/// stream), passes text through untouched (or, for a chat that offered tools, through the model format's parser,
/// which splits it into content and tool calls), and ends the request exactly once with whole-request statistics
/// (<see cref="GenerationDone.Total"/> from the pipeline's acceptance) and its in-flight slot released.
/// </summary>
internal sealed class GenerationRun(RequestPipeline pipeline, IGenerationObserver observer, ulong id) : IResponseSink, ILiveRequest
{
    private readonly long started = Stopwatch.GetTimestamp();
    private int ended;
    private ChatOutputParser? parser;
    private List<ChatOutputDelta>? parsed;

    public ulong Id { get; } = id;

    public string Model { get; set; } = "";

    /// <summary>The cluster node that runs it: this one, until it is forwarded (empty outside a cluster).</summary>
    public string Node { get; private set; } = pipeline.LocalNode;

    /// <summary>Why it runs on <see cref="Node"/>: the cluster router's reason, or why a forward fell back here (empty outside a cluster).</summary>
    public string Placement { get; set; } = "";

    public string Task { get; private set; } = "";

    public TimeSpan RouteTime { get; private set; }

    public void Routed(string task, TimeSpan routeTime) => (Task, RouteTime) = (task, routeTime);

    /// <summary>Reads the output with <paramref name="outputParser"/> (owned from now on) before the door sees it.</summary>
    public void ParseOutputWith(ChatOutputParser outputParser)
    {
        parser = outputParser;
        parsed = [];
    }

    public void OnText(ulong requestId, ReadOnlySpan<byte> utf8)
    {
        if (Volatile.Read(ref ended) == 0)
        {
            if (parser is null)
            {
                observer.OnText(utf8);
            }
            else
            {
                Parse(utf8, final: false);
            }
        }
    }

    /// <summary>
    /// Feeds the parser and hands the door what became certain. Runs on the worker between decode steps, only for
    /// requests that offered tools (llama.cpp's parser re-reads the whole answer each time, as llama-server does).
    /// </summary>
    private void Parse(ReadOnlySpan<byte> utf8, bool final)
    {
        var deltas = parsed!;
        var current = parser!;
        deltas.Clear();
        try
        {
            current.Update(utf8, final, deltas);
        }
        catch (Exception ex) when (ex is ChatTemplateException or ObjectDisposedException)
        {
            // The parser itself failed (not the output): what the model wrote still reaches the client, as text.
            ServerLog.ToolOutputUnreadable(pipeline.Logger, Id, ex.Message);
            current.Dispose();
            parser = null;
            observer.OnText(utf8);
            return;
        }

        foreach (var delta in deltas)
        {
            if (delta.Kind == ChatOutputDeltaKind.ToolCall)
            {
                observer.OnToolCall(delta);
            }
            else if (delta.Text.Length > 0)
            {
                // Reasoning stays in the content: no reasoning format is asked of the parser (llama-server's "none").
                observer.OnText(Encoding.UTF8.GetBytes(delta.Text));
            }
        }

        if (final && current.FormatError is { } error)
        {
            ServerLog.ToolOutputUnreadable(pipeline.Logger, Id, error);
        }
    }

    public void OnCompleted(ulong requestId, CompletionStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        Complete(stats);
    }

    public void OnFailed(ulong requestId, RequestError failure, string message) => Fail(failure, message);

    public void Fail(RequestError error, string message)
    {
        if (Interlocked.Exchange(ref ended, 1) == 0)
        {
            parser?.Dispose();
            pipeline.Untrack(Id);
            pipeline.LeaveInFlight(0, failed: true);
            pipeline.Events.Failed(Id, error);
            try
            {
                observer.OnFailed(error, message);
            }
            finally
            {
                pipeline.Finished(); // after the door has the end: a drain may close the doors once none is unfinished
            }
        }
    }

    private void Complete(CompletionStats stats)
    {
        if (Volatile.Read(ref ended) == 0 && parser is not null)
        {
            Parse([], final: true); // what the end makes certain (a call's last piece, or text that was not a call)
        }

        if (Interlocked.Exchange(ref ended, 1) == 0)
        {
            var toolCalls = parser?.ToolCallCount ?? 0;
            parser?.Dispose();
            pipeline.Untrack(Id);
            pipeline.LeaveInFlight(stats.GeneratedTokens, failed: false);
            try
            {
                var done = new GenerationDone(stats.Model, Task, stats.FinishReason, stats.PromptTokens, stats.GeneratedTokens,
                    stats.TokensPerSecond, stats.RouteTime, stats.QueueWait, stats.SwapTime, stats.TimeToFirstToken, Stopwatch.GetElapsedTime(started),
                    stats.CachedPromptTokens, toolCalls, Node, Placement);
                pipeline.Events.Finished(Id, done);
                observer.OnCompleted(done);
            }
            finally
            {
                pipeline.Finished();
            }
        }
    }

    /// <summary>
    /// The route's remote members in order, then the local model: the first member to produce text answers in full.
    /// Once text was sent the answer is that member's, and a failure after it ends the request with an error rather
    /// than splicing in another model's words.
    /// </summary>
    public async Task ServeAsync(RemoteChain chain, RemoteChatRequest request, Func<GenerationRequest> local, CancellationToken cancellation)
    {
        // A remote answer has no worker to end it at the shutdown deadline: the pipeline's cut-off cancels it here.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellation, pipeline.CutOffToken);
        try
        {
            await ServeRemoteAsync(chain, request, local, linked.Token, cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (pipeline.CutOffToken.IsCancellationRequested)
        {
            Fail(RequestError.ShuttingDown, "the server is shutting down: the request did not finish before the shutdown deadline");
        }
    }

    private async Task ServeRemoteAsync(RemoteChain chain, RemoteChatRequest request, Func<GenerationRequest> local, CancellationToken cancellation,
        CancellationToken client)
    {
        var attempts = new List<ChainAttempt>();
        RemoteAnswer? answer;
        try
        {
            answer = await chain.OpenAsync(request, attempts, cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested && !pipeline.CutOffToken.IsCancellationRequested)
        {
            Complete(RemoteStats(Model, FinishReason.Cancelled, null, 0, null));
            return;
        }

        if (answer is null)
        {
            ServerLog.ChainExhausted(pipeline.Logger, Id, string.Join("; ", attempts.Select(a => $"{a.Member}: {a.Outcome}")));
            try
            {
                pipeline.SubmitLocal(this, local(), client); // the local model's worker ends it at the deadline itself
            }
            catch (RequestException ex)
            {
                Fail(ex.Error, ex.Message);
            }

            return;
        }

        await using (answer.ConfigureAwait(false))
        {
            await RelayAsync(answer, cancellation).ConfigureAwait(false);
        }
    }

    private async Task RelayAsync(RemoteAnswer answer, CancellationToken cancellation)
    {
        TimeSpan? firstPiece = null;
        var pieces = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            await foreach (var piece in answer.ReadAllAsync(cancellation).ConfigureAwait(false))
            {
                firstPiece ??= Stopwatch.GetElapsedTime(started);
                pieces++;
                if (Encoding.UTF8.GetMaxByteCount(piece.Length) > buffer.Length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(piece.Length));
                }

                var length = Encoding.UTF8.GetBytes(piece, buffer);
                if (length > 0)
                {
                    observer.OnText(buffer.AsSpan(0, length));
                }
            }

            var reason = answer.FinishReason == "length" ? FinishReason.MaxTokens : FinishReason.EndOfGeneration;
            Complete(Record(RemoteStats(answer.Member, reason, firstPiece, pieces, answer.Usage)));
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested && !pipeline.CutOffToken.IsCancellationRequested)
        {
            Complete(RemoteStats(answer.Member, FinishReason.Cancelled, firstPiece, pieces, null));
        }
        catch (Exception ex) when (ex is UpstreamException or HttpRequestException or IOException or OperationCanceledException
            && !pipeline.CutOffToken.IsCancellationRequested)
        {
            Fail(RequestError.ModelUnavailable, $"{answer.Member} failed mid-answer: {ex.Message}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Runs the request on another cluster node and relays its answer: the client sees one stream, with that node in
    /// the statistics. A forward that fails before its first piece (node gone, refused, overloaded) is served here
    /// instead, so a dead or partitioned node loses no request that had not started; once text was relayed the answer
    /// is that node's, and its failure ends the request with an error rather than splicing in another run's words.
    /// </summary>
    public async Task ForwardAsync(IRequestForwarder forwarder, ForwardTarget target, GenerationCommand command, Func<GenerationRequest> local,
        CancellationToken client)
    {
        // As with a remote chain, no worker of ours ends it at the shutdown deadline: the pipeline's cut-off does.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(client, pipeline.CutOffToken);
        var previous = Node;
        Node = target.Node;
        Placement = target.Reason;
        TimeSpan? firstPiece = null;
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            await foreach (var piece in forwarder.ForwardAsync(target, command, Model, linked.Token).ConfigureAwait(false))
            {
                if (piece.Done is { } done)
                {
                    pipeline.Metrics.RecordForward(target.Node, "served");
                    Complete(new CompletionStats(done.Model, done.FinishReason, RouteTime, done.QueueWait, done.SwapTime, firstPiece,
                        done.PromptTokens, done.GeneratedTokens, done.TokensPerSecond, done.CachedPromptTokens));
                    return;
                }

                if (piece.Text.Length == 0)
                {
                    continue;
                }

                firstPiece ??= Stopwatch.GetElapsedTime(started);
                if (Encoding.UTF8.GetMaxByteCount(piece.Text.Length) > buffer.Length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(piece.Text.Length));
                }

                OnText(Id, buffer.AsSpan(0, Encoding.UTF8.GetBytes(piece.Text, buffer)));
            }

            throw new ForwardException(RequestError.ModelUnavailable, $"node {target.Node} ended the answer without its statistics");
        }
        // Whatever a forward throws, the request ends exactly once: the deadline's cut-off, the client's cancellation, a
        // failure before the first piece (served here) or after it (a typed error). A forward is fire-and-forget for the
        // pipeline, so an exception left unhandled here would leave the request open and its in-flight slot taken.
        catch (Exception) when (pipeline.CutOffToken.IsCancellationRequested)
        {
            pipeline.Metrics.RecordForward(target.Node, "cut_off");
            Fail(RequestError.ShuttingDown, "the server is shutting down: the request did not finish before the shutdown deadline");
        }
        catch (Exception) when (client.IsCancellationRequested)
        {
            pipeline.Metrics.RecordForward(target.Node, "cancelled");
            Complete(new CompletionStats(Model, FinishReason.Cancelled, RouteTime, TimeSpan.Zero, null, firstPiece, 0, 0, 0));
        }
        catch (Exception ex) when (firstPiece is null)
        {
            pipeline.Metrics.RecordForward(target.Node, "served_here");
            ServerLog.ForwardFellBack(pipeline.Logger, Id, Model, target.Node, ex.Message);
            Node = previous;
            Placement = "ServedHere: " + ex.Message;
            try
            {
                pipeline.SubmitLocal(this, local(), client);
            }
            catch (RequestException refused)
            {
                Fail(refused.Error, refused.Message);
            }
        }
        catch (Exception ex)
        {
            pipeline.Metrics.RecordForward(target.Node, "failed");
            Fail(ex is ForwardException { Error: var error } && error != RequestError.Cancelled ? error : RequestError.ModelUnavailable,
                $"node {target.Node} failed mid-answer: {ex.Message}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // The worker records a local answer's metrics; a remote's are recorded here, under its name.
    private CompletionStats Record(CompletionStats stats)
    {
        pipeline.Metrics.RecordCompletion(stats);
        return stats;
    }

    /// <summary>
    /// A remote has no queue or swap of ours. Token counts are the upstream's usage when it reports one, else its stream
    /// pieces (OpenAI-compatible servers send about one token per piece).
    /// </summary>
    private CompletionStats RemoteStats(string member, FinishReason reason, TimeSpan? firstPiece, int pieces, (int Prompt, int Completion)? usage)
    {
        var streaming = Stopwatch.GetElapsedTime(started) - (firstPiece ?? TimeSpan.Zero);
        var generated = usage?.Completion ?? pieces;
        var rate = generated > 1 && streaming > TimeSpan.Zero ? (generated - 1) / streaming.TotalSeconds : 0;
        return new CompletionStats(member, reason, RouteTime, TimeSpan.Zero, null, firstPiece, usage?.Prompt ?? 0, generated, rate);
    }
}
