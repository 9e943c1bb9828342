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
/// <remarks>
/// Nothing it holds can be left hanging: a fault (any exception) fails exactly the requests the worker holds at that
/// moment with <see cref="RequestError.Internal"/>, is logged once with the model's name, and the loop goes on after a
/// short back-off; a request that waits longer than MaxQueueWait fails with <see cref="RequestError.Timeout"/>; on
/// abort (the shutdown deadline) everything queued, running or parked fails with <see cref="RequestError.ShuttingDown"/>.
/// Inside a batch, a sequence that has generated FairShareTokens since it last got its slot gives the slot up to a
/// waiting request when every slot is busy (it is parked and resumes later, unchanged), so short requests are not
/// starved by long ones.
/// </remarks>
internal sealed class ModelWorker
{
    private static readonly TimeSpan MaxFaultBackoff = TimeSpan.FromSeconds(5);

    // Faults in a row after which every waiting request fails at once instead of one per fault.
    private const int RepeatedFaults = 3;

    private readonly Channel<ScheduledWork> queue;
    private readonly ModelPool pool;
    private readonly Scheduler scheduler;
    private readonly SchedulerOptions options;
    private readonly ServerMetrics metrics;
    private readonly ILogger logger;
    private readonly SchedulerRuntime runtime;
    private readonly TimeProvider time;

    // Sequences that gave their slot up, oldest first; owned by the serving thread, counted for the load figures.
    private readonly Queue<Running> parked = new();
    private int parkedCount;
    private long accepted;
    private bool holdsLease;
    private bool yielded; // the last lease ended by yielding to a starving model
    private Task? loop;

    public ModelWorker(string model, ModelPool pool, Scheduler scheduler, SchedulerOptions options, ServerMetrics metrics, ILogger logger)
    {
        Model = model;
        this.pool = pool;
        this.scheduler = scheduler;
        this.options = options;
        this.metrics = metrics;
        this.logger = logger;
        runtime = options.Runtime;
        time = runtime.Time;
        queue = Channel.CreateBounded<ScheduledWork>(new BoundedChannelOptions(options.QueueCapacityPerModel)
        {
            SingleReader = false, // the scheduler's deadline sweep takes expired requests off the head as well
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails at once: the RejectNew overload policy
        });
    }

    public string Model { get; }

    /// <summary>Requests waiting for a slot: queued, and parked sequences waiting to resume.</summary>
    public int Waiting => queue.Reader.Count + Volatile.Read(ref parkedCount);

    /// <summary>Sequences being generated now.</summary>
    public int Active { get; private set; }

    /// <summary>Whether this worker holds its model's lease (from the acquire until the release).</summary>
    public bool HoldsLease => Volatile.Read(ref holdsLease);

    /// <summary>Faults since the worker last served a request cleanly (0: healthy).</summary>
    public int ConsecutiveFaults { get; private set; }

    /// <summary>Enqueue time of the oldest waiting request; 0 when none waits.</summary>
    public long OldestWaitingTimestamp => queue.Reader.TryPeek(out var oldest) ? oldest.EnqueuedTimestamp : 0;

    /// <summary>Enqueue time of the oldest waiting request; false when none waits.</summary>
    public bool TryPeekOldestWaiting(out long enqueuedTimestamp)
    {
        var waiting = queue.Reader.TryPeek(out var oldest);
        enqueuedTimestamp = waiting ? oldest!.EnqueuedTimestamp : 0;
        return waiting;
    }

    public bool TryEnqueue(ScheduledWork request)
    {
        if (!queue.Writer.TryWrite(request))
        {
            return false;
        }

        Interlocked.Increment(ref accepted);
        return true;
    }

    /// <summary>Requests accepted for this model since the start: the cluster's placement reads its demand from it.</summary>
    public long Accepted => Interlocked.Read(ref accepted);

    public void Start(CancellationToken stopping) => loop = Task.Run(() => RunAsync(stopping), CancellationToken.None);

    /// <summary>Stops accepting requests and waits until every accepted one has finished.</summary>
    public Task DrainAsync()
    {
        queue.Writer.TryComplete();
        return loop ?? Task.CompletedTask;
    }

    /// <summary>Fails the waiting requests that have passed their deadline (they sit at the head: the queue is FIFO).</summary>
    public void ExpireWaiting()
    {
        while (queue.Reader.TryPeek(out var head) && time.GetElapsedTime(head.EnqueuedTimestamp) >= options.MaxQueueWait
            && queue.Reader.TryRead(out var expired))
        {
            FailExpired(expired);
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        while (true)
        {
            Exception? fault;
            var failedInBatch = 0;
            try
            {
                if (!await queue.Reader.WaitToReadAsync(stopping).ConfigureAwait(false))
                {
                    return; // drained: the queue is complete and empty
                }

                if (yielded)
                {
                    // Our model is still resident, so the pool would lease it again at once, before the starving model's
                    // worker has had its turn: hold back until it has been served (bounded).
                    yielded = false;
                    await scheduler.WaitWhileOthersStarveAsync(this, stopping).ConfigureAwait(false);
                }

                ModelLease lease;
                try
                {
                    options.FaultInjection?.Invoke(Model, WorkerStage.Lease);
                    lease = await pool.AcquireAsync(Model, stopping).ConfigureAwait(false);
                }
                catch (ModelUnavailableException ex)
                {
                    ServerLog.ModelUnavailable(logger, Model, ex.Problem);
                    FailWaiting(RequestError.ModelUnavailable, ex.Message);
                    continue;
                }

                Volatile.Write(ref holdsLease, true);
                scheduler.LeaseTaken();
                try
                {
                    using (lease)
                    {
                        if (lease.SwapTime is { } swap)
                        {
                            metrics.RecordSwap(Model, swap);
                        }

                        // Decoding is synchronous native work: give it a thread of its own while the model is leased.
                        (fault, failedInBatch) = await runtime.RunDedicated(() => Serve(lease, stopping)).ConfigureAwait(false);
                    }
                }
                finally
                {
                    Volatile.Write(ref holdsLease, false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                FailWaiting(RequestError.ShuttingDown, "the server is shutting down: the request did not start before the shutdown deadline");
                return;
            }
#pragma warning disable CA1031 // a worker must outlive any fault: its model's other requests and later ones depend on it
            catch (Exception ex)
#pragma warning restore CA1031
            {
                fault = ex;
            }

            if (fault is not null)
            {
                await RecoverAsync(fault, failedInBatch, stopping).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// After a fault: logged once with the model's name and counted. The batch's requests have failed already; a
    /// fault outside a batch (leasing, creating the context) fails the request at the head of the queue, the one it
    /// was for, and a fault that repeats fails every waiting request (the model is broken, not the request). Then a
    /// short back-off, so that a repeating fault does not spin.
    /// </summary>
    private async Task RecoverAsync(Exception fault, int failedInBatch, CancellationToken stopping)
    {
        ConsecutiveFaults++;
        metrics.RecordWorkerFault(Model);
        ServerLog.WorkerFault(logger, Model, ConsecutiveFaults, fault);
        var message = $"model '{Model}' failed: {fault.Message}";
        if (ConsecutiveFaults >= RepeatedFaults)
        {
            FailWaiting(RequestError.Internal, message);
        }
        else if (failedInBatch == 0 && queue.Reader.TryRead(out var head))
        {
            head.Fail(RequestError.Internal, message);
        }

        var backoff = TimeSpan.FromMilliseconds(Math.Min(MaxFaultBackoff.TotalMilliseconds, 50 * Math.Pow(2, ConsecutiveFaults - 1)));
        await Task.Delay(backoff, time, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Serves one lease; returns the fault that ended it (null when none) and how many requests it failed.</summary>
    private (Exception? Fault, int Failed) Serve(ModelLease lease, CancellationToken stopping)
    {
        var active = new List<Running>(options.MaxBatchPerModel);
        var embeddings = new List<EmbeddingRequest>();
        IBatchDecoder? generator = null;
        try
        {
            options.FaultInjection?.Invoke(Model, WorkerStage.Context);
            generator = runtime.CreateDecoder(lease, new ContextOptions
            {
                ContextLength = options.ContextPerSequence * options.MaxBatchPerModel,
                BatchSize = 512,
                MaxSequences = options.MaxBatchPerModel,
                Threads = options.Threads,
                PrefixCacheTokens = options.PrefixCacheTokens,
                HostKvBudgetBytes = options.HostKvBudgetBytes,
            });
            ServeBatch(lease, generator, active, embeddings, stopping);
            return (null, 0);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            FailHeld(active, embeddings, RequestError.ShuttingDown, "the server is shutting down: the request did not finish before the shutdown deadline");
            return (null, 0);
        }
#pragma warning disable CA1031 // a fault fails what the batch holds, never the worker
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (ex is InferenceException)
            {
                ServerLog.DecodeFailed(logger, Model, ex.Message);
            }

            return (ex, FailHeld(active, embeddings, RequestError.Internal, $"model '{Model}' failed while serving: {ex.Message}"));
        }
        finally
        {
            generator?.Dispose();
            Active = 0;
        }
    }

    private void ServeBatch(ModelLease lease, IBatchDecoder generator, List<Running> active, List<EmbeddingRequest> embeddings, CancellationToken stopping)
    {
        var residentSince = time.GetTimestamp();
        var firstAdmission = true;
        while (true)
        {
            stopping.ThrowIfCancellationRequested(); // the shutdown deadline: what is held fails as shutting down
            // Yielding: nothing new is admitted, but parked sequences (already admitted) still resume and finish.
            var yielding = scheduler.ShouldYield(this, residentSince);
            if (!yielding)
            {
                SliceFairly(generator, active);
            }

            Admit(generator, active, embeddings, firstAdmission ? lease.SwapTime : null, admitNew: !yielding);

            if (embeddings.Count > 0)
            {
                // Between two decode steps: the batch of generations waits one embedding decode, no longer.
                options.FaultInjection?.Invoke(Model, WorkerStage.Embed);
                Embed(lease, embeddings, firstAdmission ? lease.SwapTime : null);
            }

            firstAdmission = false;
            Active = active.Count;
            if (active.Count == 0)
            {
                if (parked.Count > 0)
                {
                    continue; // cancelled actives freed slots for the parked ones
                }

                if (yielding)
                {
                    yielded = true;
                    return;
                }

                if (!WaitForWork(stopping))
                {
                    return;
                }

                continue;
            }

            options.FaultInjection?.Invoke(Model, WorkerStage.Step);
            if (generator.CoalescesSteps)
            {
                generator.DecodeSteps(TokensBeforeNextSlice(generator, active), NextDecisionTimestamp(residentSince));
            }
            else
            {
                generator.DecodeStep();
            }
            for (var i = active.Count - 1; i >= 0; i--)
            {
                var running = active[i];
                Deliver(running);
                if (running.Sequence.IsFinished)
                {
                    active.RemoveAt(i);
                    Complete(running);
                }
            }

            ConsecutiveFaults = 0;
        }
    }

    /// <summary>
    /// Tokens every active sequence can generate before <see cref="SliceFairly"/> could park one of them: unbounded
    /// unless every slot is busy and someone waits (the same condition it checks).
    /// </summary>
    private int TokensBeforeNextSlice(IBatchDecoder generator, List<Running> active)
    {
        if (generator.HasFreeSlot || !(queue.Reader.TryPeek(out var next) && next is InferenceRequest || parked.Count > 0))
        {
            return int.MaxValue;
        }

        var tokens = int.MaxValue;
        foreach (var running in active)
        {
            var slice = running.Sequence.GeneratedTokenCount - running.GeneratedAtSlice;
            tokens = Math.Min(tokens, Math.Max(1, options.FairShareTokens - slice));
        }

        return tokens;
    }

    /// <summary>The earliest timestamp at which a time-based decision (yielding, this queue's deadline) could change.</summary>
    private long NextDecisionTimestamp(long residentSince)
    {
        var next = scheduler.NextYieldCheckTimestamp(this, residentSince);
        if (queue.Reader.TryPeek(out var head))
        {
            next = Math.Min(next, SchedulerTime.After(time, head.EnqueuedTimestamp, options.MaxQueueWait));
        }

        return next;
    }

    /// <summary>
    /// When every slot is busy and a generation waits, the sequence that has run longest since it got its slot (at
    /// least FairShareTokens) is parked: the waiting request gets its slot, and it resumes after, where it stopped.
    /// </summary>
    private void SliceFairly(IBatchDecoder generator, List<Running> active)
    {
        if (generator.HasFreeSlot || !(queue.Reader.TryPeek(out var next) && next is InferenceRequest || parked.Count > 0))
        {
            return;
        }

        Running? victim = null;
        foreach (var running in active)
        {
            var slice = running.Sequence.GeneratedTokenCount - running.GeneratedAtSlice;
            if (slice >= options.FairShareTokens && !running.Sequence.IsFinished && running.Sequence.CanPark
                && (victim is null || slice > victim.Sequence.GeneratedTokenCount - victim.GeneratedAtSlice))
            {
                victim = running;
            }
        }

        if (victim is null)
        {
            return;
        }

        generator.Park(victim.Sequence);
        active.Remove(victim);
        victim.ParkedTimestamp = time.GetTimestamp();
        parked.Enqueue(victim);
        Volatile.Write(ref parkedCount, parked.Count);
        metrics.RecordPreemption(Model);
    }

    /// <summary>Fills free slots, oldest first among the queue's head and the parked sequences; embeddings need no slot.</summary>
    private void Admit(IBatchDecoder generator, List<Running> active, List<EmbeddingRequest> embeddings, TimeSpan? swap, bool admitNew)
    {
        while (generator.HasFreeSlot)
        {
            ScheduledWork? head = null;
            var hasQueued = admitNew && queue.Reader.TryPeek(out head);
            if (parked.TryPeek(out var resumable) && (!hasQueued || resumable.ParkedTimestamp <= head!.EnqueuedTimestamp))
            {
                parked.Dequeue();
                Volatile.Write(ref parkedCount, parked.Count);
                if (resumable.Request.Cancellation.IsCancellationRequested)
                {
                    resumable.Sequence.Abandon(FinishReason.Cancelled);
                    Complete(resumable);
                    continue;
                }

                generator.Unpark(resumable.Sequence);
                resumable.GeneratedAtSlice = resumable.Sequence.GeneratedTokenCount;
                active.Add(resumable);
                continue;
            }

            if (!hasQueued || !queue.Reader.TryRead(out var work))
            {
                return;
            }

            if (time.GetElapsedTime(work.EnqueuedTimestamp) >= options.MaxQueueWait)
            {
                FailExpired(work);
            }
            else if (work is InferenceRequest request)
            {
                Start(generator, request, swap, active);
            }
            else
            {
                embeddings.Add((EmbeddingRequest)work);
            }
        }

        // Slots are full: embeddings still go in (they share the decodes between steps, not the slots).
        while (admitNew && queue.Reader.TryPeek(out var next) && next is EmbeddingRequest && queue.Reader.TryRead(out var work))
        {
            embeddings.Add((EmbeddingRequest)work);
        }
    }

    private void Start(IBatchDecoder generator, InferenceRequest request, TimeSpan? swap, List<Running> active)
    {
        var queueWait = time.GetElapsedTime(request.EnqueuedTimestamp);
        metrics.RecordQueueWait(Model, queueWait);
        if (request.Cancellation.IsCancellationRequested)
        {
            request.Sink.OnFailed(request.Id, RequestError.Cancelled, "cancelled before it started");
            return;
        }

        try
        {
            options.FaultInjection?.Invoke(Model, WorkerStage.Admit);
            active.Add(new Running(request, generator.Start(request.Generation, request.Cancellation), queueWait, swap));
        }
        catch (PromptTooLongException ex)
        {
            request.Sink.OnFailed(request.Id, RequestError.PromptTooLong, ex.Message);
        }
        catch (ArgumentException ex)
        {
            request.Sink.OnFailed(request.Id, RequestError.InvalidArgument, ex.Message);
        }
#pragma warning disable CA1031 // a fault while starting one request (tokenizing, its sampler) is that request's alone
        catch (Exception ex)
#pragma warning restore CA1031
        {
            metrics.RecordWorkerFault(Model);
            ServerLog.WorkerFault(logger, Model, ConsecutiveFaults + 1, ex);
            request.Sink.OnFailed(request.Id, RequestError.Internal, $"model '{Model}' could not start the request: {ex.Message}");
        }
    }

    private void Deliver(Running running)
    {
        if (running.Sequence.NewText.IsEmpty)
        {
            return;
        }

        try
        {
            options.FaultInjection?.Invoke(Model, WorkerStage.Deliver);
            running.Request.Sink.OnText(running.Request.Id, running.Sequence.NewText);
        }
#pragma warning disable CA1031 // a failing sink (its connection broke) must never stop the batch of other clients
        catch (Exception ex)
#pragma warning restore CA1031
        {
            ServerLog.SinkFailed(logger, Model, running.Request.Id, ex.Message);
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

        while (waiting.Count > 0)
        {
            // One at a time off the front: a fault fails the rest (still in the list) and nothing twice.
            var request = waiting[0];
            var queueWait = time.GetElapsedTime(request.EnqueuedTimestamp);
            metrics.RecordQueueWait(Model, queueWait);
            if (request.Cancellation.IsCancellationRequested)
            {
                waiting.RemoveAt(0);
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
                waiting.RemoveAt(0);
                request.Fail(RequestError.InvalidArgument, ex.Message);
                continue;
            }

            waiting.RemoveAt(0);
            metrics.RecordEmbeddings(Model, request.Inputs.Count);
            request.Completion.TrySetResult(new EmbeddingVectors(Model, embedder.Dimensions, vectors, tokens, queueWait, swap));
        }
    }

    private void Complete(Running running)
    {
        var (request, sequence) = (running.Request, running.Sequence);
        var stats = new CompletionStats(Model, sequence.FinishReason!.Value, request.RouteTime, running.QueueWait, running.Swap, sequence.TimeToFirstToken,
            sequence.PromptTokenCount, sequence.GeneratedTokenCount, sequence.DecodeTokensPerSecond, sequence.CachedPromptTokenCount);
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
            return runtime.Wait(wait, options.Linger, stopping) && wait.Result && queue.Reader.Count > 0;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Ends everything a batch holds (running, parked, embeddings) with one error; each request exactly once.</summary>
    private int FailHeld(List<Running> active, List<EmbeddingRequest> embeddings, RequestError error, string message)
    {
        var failed = active.Count + parked.Count + embeddings.Count;
        foreach (var running in active)
        {
            running.Request.Fail(error, message);
        }

        active.Clear();
        while (parked.TryDequeue(out var waiting))
        {
            waiting.Sequence.Abandon(FinishReason.Cancelled);
            waiting.Request.Fail(error, message);
        }

        Volatile.Write(ref parkedCount, 0);
        foreach (var embedding in embeddings)
        {
            embedding.Fail(error, message);
        }

        embeddings.Clear();
        return failed;
    }

    private void FailWaiting(RequestError error, string message)
    {
        while (queue.Reader.TryRead(out var work))
        {
            work.Fail(error, message);
        }
    }

    private void FailExpired(ScheduledWork work)
    {
        metrics.RecordQueueWait(Model, time.GetElapsedTime(work.EnqueuedTimestamp));
        work.Fail(RequestError.Timeout, $"the request waited {options.MaxQueueWait.TotalSeconds:0} s for model '{Model}' without starting (MaxQueueWaitSeconds)");
    }

    /// <summary>A generation holding (or waiting to get back) a slot of the batch.</summary>
    private sealed class Running(InferenceRequest request, IDecodingSequence sequence, TimeSpan queueWait, TimeSpan? swap)
    {
        public InferenceRequest Request { get; } = request;

        public IDecodingSequence Sequence { get; } = sequence;

        public TimeSpan QueueWait { get; } = queueWait;

        public TimeSpan? Swap { get; } = swap;

        /// <summary>Tokens it had generated when it last got its slot (fair slicing counts from there).</summary>
        public int GeneratedAtSlice { get; set; }

        public long ParkedTimestamp { get; set; }
    }
}
