using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using ModelRouter.Runtime.Embeddings;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;

namespace ModelRouter.Server.Scheduling;

/// <summary>
/// Serves one model: a bounded queue, and a loop that, while requests wait, leases the model from the pool (which
/// swaps it in and cannot swap it out while the lease is held), then batches up to MaxBatchPerModel requests into
/// one context, step by step, until the queue is empty (after a short linger) or the scheduler asks it to yield.
/// </summary>
internal sealed class ModelWorker
{
    private readonly Channel<ScheduledWork> queue;
    private readonly ModelPool pool;
    private readonly Scheduler scheduler;
    private readonly SchedulerOptions options;
    private readonly ServerMetrics metrics;
    private readonly ILogger logger;
    private Task? loop;

    public ModelWorker(string model, ModelPool pool, Scheduler scheduler, SchedulerOptions options, ServerMetrics metrics, ILogger logger)
    {
        Model = model;
        this.pool = pool;
        this.scheduler = scheduler;
        this.options = options;
        this.metrics = metrics;
        this.logger = logger;
        queue = Channel.CreateBounded<ScheduledWork>(new BoundedChannelOptions(options.QueueCapacityPerModel)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails at once: the RejectNew overload policy
        });
    }

    public string Model { get; }

    public int Waiting => queue.Reader.Count;

    /// <summary>Sequences being generated now.</summary>
    public int Active { get; private set; }

    /// <summary>Enqueue time of the oldest waiting request; 0 when none waits.</summary>
    public long OldestWaitingTimestamp => queue.Reader.TryPeek(out var oldest) ? oldest.EnqueuedTimestamp : 0;

    public bool TryEnqueue(ScheduledWork request) => queue.Writer.TryWrite(request);

    public void Start(CancellationToken stopping) => loop = Task.Run(() => RunAsync(stopping), CancellationToken.None);

    /// <summary>Stops accepting requests and waits until every accepted one has finished.</summary>
    public Task DrainAsync()
    {
        queue.Writer.TryComplete();
        return loop ?? Task.CompletedTask;
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (await queue.Reader.WaitToReadAsync(stopping).ConfigureAwait(false))
            {
                ModelLease lease;
                try
                {
                    lease = await pool.AcquireAsync(Model, stopping).ConfigureAwait(false);
                }
                catch (ModelUnavailableException ex)
                {
                    ServerLog.ModelUnavailable(logger, Model, ex.Problem);
                    FailWaiting(RequestError.ModelUnavailable, ex.Message);
                    continue;
                }

                using (lease)
                {
                    if (lease.SwapTime is { } swap)
                    {
                        metrics.RecordSwap(Model, swap);
                    }

                    // Decoding is synchronous native work: give it a thread of its own while the model is leased.
                    await Task.Factory.StartNew(() => Serve(lease, stopping), stopping, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            FailWaiting(RequestError.Cancelled, "the server is shutting down");
        }
    }

    private void Serve(ModelLease lease, CancellationToken stopping)
    {
        var context = lease.GetContext(new ContextOptions
        {
            ContextLength = options.ContextPerSequence * options.MaxBatchPerModel,
            BatchSize = 512,
            MaxSequences = options.MaxBatchPerModel,
            Threads = options.Threads,
        });
        using var generator = new BatchedGenerator(context);
        var active = new List<(InferenceRequest Request, GenerationSequence Sequence, TimeSpan QueueWait, TimeSpan? Swap)>(options.MaxBatchPerModel);
        var embeddings = new List<EmbeddingRequest>();
        var residentSince = Stopwatch.GetTimestamp();
        var firstAdmission = true;
        try
        {
            while (true)
            {
                var yielding = stopping.IsCancellationRequested || scheduler.ShouldYield(this, residentSince);
                while (!yielding && generator.HasFreeSlot && queue.Reader.TryRead(out var work))
                {
                    if (work is InferenceRequest request)
                    {
                        Admit(generator, request, firstAdmission ? lease.SwapTime : null, active);
                    }
                    else
                    {
                        embeddings.Add((EmbeddingRequest)work);
                    }
                }

                if (embeddings.Count > 0)
                {
                    // Between two decode steps: the batch of generations waits one embedding decode, no longer.
                    Embed(lease, embeddings, firstAdmission ? lease.SwapTime : null);
                }

                firstAdmission = false;
                Active = active.Count;
                if (active.Count == 0)
                {
                    if (yielding || !WaitForWork(stopping))
                    {
                        return;
                    }

                    continue;
                }

                generator.Step();
                for (var i = active.Count - 1; i >= 0; i--)
                {
                    var (request, sequence, queueWait, swap) = active[i];
                    if (!sequence.NewText.IsEmpty)
                    {
                        try
                        {
                            request.Sink.OnText(request.Id, sequence.NewText);
                        }
#pragma warning disable CA1031 // a failing sink (its connection broke) must never stop the batch of other clients
                        catch (Exception ex)
#pragma warning restore CA1031
                        {
                            ServerLog.SinkFailed(logger, Model, request.Id, ex.Message);
                        }
                    }

                    if (sequence.IsFinished)
                    {
                        active.RemoveAt(i);
                        Complete(request, sequence, queueWait, swap);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is InferenceException or ObjectDisposedException)
        {
            ServerLog.DecodeFailed(logger, Model, ex.Message);
            foreach (var (request, _, _, _) in active)
            {
                request.Sink.OnFailed(request.Id, RequestError.Internal, "decode failed: " + ex.Message);
            }

            foreach (var embedding in embeddings)
            {
                embedding.Fail(RequestError.Internal, "decode failed: " + ex.Message);
            }
        }
        finally
        {
            Active = 0;
        }
    }

    private void Admit(BatchedGenerator generator, InferenceRequest request, TimeSpan? swap, List<(InferenceRequest, GenerationSequence, TimeSpan, TimeSpan?)> active)
    {
        var queueWait = Stopwatch.GetElapsedTime(request.EnqueuedTimestamp);
        metrics.RecordQueueWait(Model, queueWait);
        if (request.Cancellation.IsCancellationRequested)
        {
            request.Sink.OnFailed(request.Id, RequestError.Cancelled, "cancelled before it started");
            return;
        }

        try
        {
            active.Add((request, generator.Start(request.Generation, request.Cancellation), queueWait, swap));
        }
        catch (PromptTooLongException ex)
        {
            request.Sink.OnFailed(request.Id, RequestError.PromptTooLong, ex.Message);
        }
        catch (ArgumentException ex)
        {
            request.Sink.OnFailed(request.Id, RequestError.InvalidArgument, ex.Message);
        }
    }

    /// <summary>
    /// Embeds the waiting requests' texts with the model's embedding context (several texts per decode; a context the
    /// lease keeps across swaps), then completes each request. A bad input fails its own request only.
    /// </summary>
    private void Embed(ModelLease lease, List<EmbeddingRequest> waiting, TimeSpan? swap)
    {
        // A generative model pools nothing itself (no "<arch>.pooling_type" in its GGUF): mean-pool its hidden states.
        // Asking for that at once spares creating (and keeping in the lease's cache) a context that would pool nothing.
        var model = lease.Model;
        var ownPooling = model.GetMetadata(model.Architecture + ".pooling_type") is not null;
        var contextOptions = TextEmbedder.BatchOptions(options.EmbeddingTokensPerInput, options.EmbeddingInputsPerDecode, options.Threads,
            ownPooling ? null : EmbeddingPooling.Mean);
        var context = lease.GetContext(contextOptions);
        if (context.Pooling == EmbeddingPooling.None)
        {
            context = lease.GetContext(contextOptions with { Pooling = EmbeddingPooling.Mean });
        }

        foreach (var request in waiting)
        {
            var queueWait = Stopwatch.GetElapsedTime(request.EnqueuedTimestamp);
            metrics.RecordQueueWait(Model, queueWait);
            if (request.Cancellation.IsCancellationRequested)
            {
                request.Fail(RequestError.Cancelled, "cancelled before it started");
                continue;
            }

            using var embedder = TextEmbedder.Over(context, request.Normalize);
            var vectors = new float[request.Inputs.Count * embedder.Dimensions];
            var tokens = new int[request.Inputs.Count];
            try
            {
                embedder.EmbedBatch(request.Inputs, vectors, tokens);
            }
            catch (ArgumentException ex)
            {
                request.Fail(RequestError.InvalidArgument, ex.Message);
                continue;
            }

            metrics.RecordEmbeddings(Model, request.Inputs.Count);
            request.Completion.TrySetResult(new EmbeddingVectors(Model, embedder.Dimensions, vectors, tokens, queueWait, swap));
        }

        waiting.Clear();
    }

    private void Complete(InferenceRequest request, GenerationSequence sequence, TimeSpan queueWait, TimeSpan? swap)
    {
        var stats = new CompletionStats(Model, sequence.FinishReason!.Value, request.RouteTime, queueWait, swap, sequence.TimeToFirstToken,
            sequence.PromptTokenCount, sequence.GeneratedTokenCount, sequence.DecodeTokensPerSecond);
        metrics.RecordCompletion(stats);
        request.Sink.OnCompleted(request.Id, stats);
    }

    /// <summary>Lingers briefly for new requests before giving the model back; false when none came.</summary>
    private bool WaitForWork(CancellationToken stopping)
    {
        if (queue.Reader.Count > 0)
        {
            return true;
        }

        try
        {
            var wait = queue.Reader.WaitToReadAsync(stopping).AsTask();
            return wait.Wait(options.Linger, stopping) && wait.Result && queue.Reader.Count > 0;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void FailWaiting(RequestError error, string message)
    {
        while (queue.Reader.TryRead(out var work))
        {
            work.Fail(error, message);
        }
    }
}
