using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Tests;

/// <summary>
/// Issue 16's scheduler guarantees, each by fault injection or a gate on the worker's loop (never by sleeping): a
/// fault fails exactly the requests the worker holds and it goes on; every queued request has a deadline; a short
/// request is not starved by long ones; the shutdown deadline ends everything held with one shutting-down error.
/// </summary>
public sealed class WorkerResilienceTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    private static readonly SchedulerOptions Base = new()
    {
        MaxBatchPerModel = 2, ContextPerSequence = 128, Threads = 1, QueueCapacityPerModel = 64, Linger = TimeSpan.FromMilliseconds(5),
    };

    [Theory(Timeout = 120_000)]
    [InlineData(nameof(WorkerStage.Lease))]
    [InlineData(nameof(WorkerStage.Context))]
    [InlineData(nameof(WorkerStage.Admit))]
    [InlineData(nameof(WorkerStage.Step))]
    public async Task A_fault_fails_the_request_it_held_with_a_typed_error_and_the_worker_serves_the_next(string stageName)
    {
        var stage = Enum.Parse<WorkerStage>(stageName);
        using var models = TestModels.Create(2);
        var faults = 0;
        var options = Base with
        {
            FaultInjection = (model, at) =>
            {
                if (model == "m0" && at == stage && Interlocked.Exchange(ref faults, 1) == 0)
                {
                    throw new InvalidOperationException($"injected fault at {at}");
                }
            },
        };
        await using var run = Run.Start(models, options);
        var sink = new CountingSink();

        Submit(run.Scheduler, sink, 1, "m0", 8);
        Submit(run.Scheduler, sink, 2, "m1", 8); // another model, served meanwhile
        var failed = await sink.WhenDone(1).WaitAsync(Bound, TestContext.Current.CancellationToken);
        var other = await sink.WhenDone(2).WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.Equal(RequestError.Internal, failed.Error);
        Assert.Contains($"injected fault at {stage}", failed.Message, StringComparison.Ordinal);
        Assert.Contains("m0", failed.Message, StringComparison.Ordinal);
        Assert.Null(other.Error);

        // The worker recovered: the next request to the faulted model is served in full.
        Submit(run.Scheduler, sink, 3, "m0", 60);
        var next = await sink.WhenDone(3).WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.Null(next.Error);
        Assert.Equal(TestModels.Reference(60), next.Text);
        sink.AssertOneTerminalEach();
    }

    [Fact(Timeout = 120_000)]
    public async Task A_fault_in_a_batch_step_fails_every_sequence_of_that_batch_once_and_nothing_else()
    {
        using var models = TestModels.Create(1);
        var steps = 0;
        var options = Base with
        {
            FaultInjection = (_, at) =>
            {
                if (at == WorkerStage.Step && Interlocked.Increment(ref steps) == 3)
                {
                    throw new InvalidOperationException("injected decode fault");
                }
            },
        };
        using var gate = new StepGate(options); // hold the first step until both are queued, so they share a batch
        await using var run = Run.Start(models, gate.Options);
        var sink = new CountingSink();
        Submit(run.Scheduler, sink, 1, "m0", 60);
        await gate.Reached.WaitAsync(Bound, TestContext.Current.CancellationToken);
        Submit(run.Scheduler, sink, 2, "m0", 60);
        gate.Open();

        var outcomes = await Task.WhenAll(sink.WhenDone(1), sink.WhenDone(2)).WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.All(outcomes, o => Assert.Equal(RequestError.Internal, o.Error));
        Submit(run.Scheduler, sink, 3, "m0", 60);
        Assert.Equal(TestModels.Reference(60), (await sink.WhenDone(3).WaitAsync(Bound, TestContext.Current.CancellationToken)).Text);
        sink.AssertOneTerminalEach();
    }

    [Fact(Timeout = 120_000)]
    public async Task A_fault_while_embedding_fails_those_embeddings_and_generation_goes_on()
    {
        using var models = TestModels.Create(1);
        var faults = 0;
        var options = Base with
        {
            FaultInjection = (_, at) =>
            {
                if (at == WorkerStage.Embed && Interlocked.Exchange(ref faults, 1) == 0)
                {
                    throw new InvalidOperationException("injected embed fault");
                }
            },
        };
        await using var run = Run.Start(models, options);
        var embedding = new EmbeddingRequest(10, "m0", ["a text to embed"], normalize: true, CancellationToken.None);
        Assert.True(run.Scheduler.TrySubmit(embedding, out _, out var refused), refused);

        var error = await Assert.ThrowsAsync<RequestException>(() => embedding.Completion.Task.WaitAsync(Bound, TestContext.Current.CancellationToken));
        Assert.Equal(RequestError.Internal, error.Error);

        var sink = new CountingSink();
        Submit(run.Scheduler, sink, 1, "m0", 60);
        Assert.Equal(TestModels.Reference(60), (await sink.WhenDone(1).WaitAsync(Bound, TestContext.Current.CancellationToken)).Text);
        var again = new EmbeddingRequest(11, "m0", ["a text to embed"], normalize: true, CancellationToken.None);
        Assert.True(run.Scheduler.TrySubmit(again, out _, out refused), refused);
        Assert.Equal(1, (await again.Completion.Task.WaitAsync(Bound, TestContext.Current.CancellationToken)).Count);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_failing_sink_does_not_stop_its_request_or_the_batch()
    {
        using var models = TestModels.Create(1);
        var faults = 0;
        var options = Base with
        {
            FaultInjection = (_, at) =>
            {
                if (at == WorkerStage.Deliver && Interlocked.Increment(ref faults) <= 3)
                {
                    throw new IOException("injected broken connection");
                }
            },
        };
        await using var run = Run.Start(models, options);
        var sink = new CountingSink();
        Submit(run.Scheduler, sink, 1, "m0", 60);
        Submit(run.Scheduler, sink, 2, "m0", 60);

        var outcomes = await Task.WhenAll(sink.WhenDone(1), sink.WhenDone(2)).WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.All(outcomes, o => Assert.Equal(FinishReason.MaxTokens, o.Stats?.FinishReason));
        sink.AssertOneTerminalEach();
    }

    [Fact(Timeout = 120_000)]
    public async Task A_request_that_cannot_start_within_its_deadline_fails_with_a_timeout()
    {
        using var models = TestModels.Create(1);
        var options = Base with { MaxBatchPerModel = 1, MaxQueueWait = TimeSpan.FromMilliseconds(300), FairShareTokens = int.MaxValue };
        var gate = new StepGate(options);
        await using var run = Run.Start(models, gate.Options);
        var sink = new CountingSink();

        Submit(run.Scheduler, sink, 1, "m0", 60);
        await gate.Reached.WaitAsync(Bound, TestContext.Current.CancellationToken); // request 1 holds the only slot, stopped at a step
        Submit(run.Scheduler, sink, 2, "m0", 8);

        // The worker is stuck inside request 1's step: only the scheduler's deadline sweep can end request 2.
        var expired = await sink.WhenDone(2).WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.Equal(RequestError.Timeout, expired.Error);
        Assert.Contains("MaxQueueWaitSeconds", expired.Message, StringComparison.Ordinal);

        gate.Open();
        Assert.Equal(TestModels.Reference(60), (await sink.WhenDone(1).WaitAsync(Bound, TestContext.Current.CancellationToken)).Text);
        gate.Dispose();
        sink.AssertOneTerminalEach();
    }

    [Fact(Timeout = 120_000)]
    public async Task A_waiting_request_expires_at_its_deadline_not_at_the_next_tick_of_a_periodic_sweep()
    {
        // The deadline sweep runs when the oldest waiting request's deadline comes (no periodic timer: on the simulator's
        // virtual clock every tick was an event). A periodic sweep of MaxQueueWait / 4 started at 0 would fail request 2
        // at 412.5 ms, not at its deadline of 50 + 330 ms.
        using var models = TestModels.Create(1);
        var clock = new FakeTimeProvider();
        var options = Base with
        {
            MaxBatchPerModel = 1, MaxQueueWait = TimeSpan.FromMilliseconds(330), FairShareTokens = int.MaxValue, Runtime = new ClockRuntime(clock),
        };
        var gate = new StepGate(options);
        await using var run = Run.Start(models, gate.Options);
        var sink = new CountingSink();

        Submit(run.Scheduler, sink, 1, "m0", 60);
        await gate.Reached.WaitAsync(Bound, TestContext.Current.CancellationToken); // request 1 holds the only slot
        clock.Advance(TimeSpan.FromMilliseconds(50));
        Submit(run.Scheduler, sink, 2, "m0", 8);
        var expiry = sink.WhenDone(2);

        clock.Advance(TimeSpan.FromMilliseconds(329));
        await Task.Delay(100, TestContext.Current.CancellationToken); // time for a sweep that should not have run
        Assert.False(expiry.IsCompleted);

        clock.Advance(TimeSpan.FromMilliseconds(1));
        var expired = await expiry.WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.Equal(RequestError.Timeout, expired.Error);

        gate.Open();
        Assert.Equal(TestModels.Reference(60), (await sink.WhenDone(1).WaitAsync(Bound, TestContext.Current.CancellationToken)).Text);
        gate.Dispose();
        sink.AssertOneTerminalEach();
    }

    [Fact(Timeout = 120_000)]
    public async Task A_short_request_is_served_before_long_ones_that_hold_every_slot_and_theirs_output_is_unchanged()
    {
        using var models = TestModels.Create(1);
        var options = Base with { MaxBatchPerModel = 1, FairShareTokens = 8 };
        var gate = new StepGate(options);
        await using var run = Run.Start(models, gate.Options);
        var sink = new CountingSink();

        Submit(run.Scheduler, sink, 1, "m0", 60);
        await gate.Reached.WaitAsync(Bound, TestContext.Current.CancellationToken); // the long one holds the only slot
        Submit(run.Scheduler, sink, 2, "m0", 4);
        gate.Open();

        var outcomes = await Task.WhenAll(sink.WhenDone(1), sink.WhenDone(2)).WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.Equal([2UL, 1UL], sink.CompletionOrder);
        Assert.Equal(FinishReason.MaxTokens, outcomes[1].Stats!.FinishReason);

        // Parked after 8 tokens and resumed by replaying what it had decoded: greedy output is token for token the same.
        Assert.Equal(TestModels.Reference(60), outcomes[0].Text);
        Assert.Equal(60, outcomes[0].Stats!.GeneratedTokens);
        gate.Dispose();
        sink.AssertOneTerminalEach();
    }

    [Fact(Timeout = 120_000)]
    public async Task At_the_shutdown_deadline_running_parked_and_queued_requests_each_end_once_as_shutting_down()
    {
        using var models = TestModels.Create(1);
        var options = Base with { MaxBatchPerModel = 1, FairShareTokens = 4 };
        var gate = new StepGate(options);
        var run = Run.Start(models, gate.Options);
        var sink = new CountingSink();

        Submit(run.Scheduler, sink, 1, "m0", 60);
        await gate.Reached.WaitAsync(Bound, TestContext.Current.CancellationToken);
        Submit(run.Scheduler, sink, 2, "m0", 60);
        Submit(run.Scheduler, sink, 3, "m0", 60);
        gate.CloseAfter(12); // let them slice a while (1 and 2 take turns), then hold the worker again
        gate.Open();
        await gate.Reached.WaitAsync(Bound, TestContext.Current.CancellationToken);

        var drain = run.Scheduler.DrainAsync(new CancellationToken(canceled: true));
        gate.Open();
        await drain.WaitAsync(Bound, TestContext.Current.CancellationToken);

        var outcomes = await Task.WhenAll(sink.WhenDone(1), sink.WhenDone(2), sink.WhenDone(3)).WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.All(outcomes, o => Assert.Equal(RequestError.ShuttingDown, o.Error));
        Assert.False(run.Scheduler.TrySubmit(NewRequest(sink, 4, "m0", 4), out var error, out _));
        Assert.Equal(RequestError.ShuttingDown, error);
        await run.DisposeAsync();
        gate.Dispose();
        sink.AssertOneTerminalEach();
    }

    private static void Submit(Scheduler scheduler, CountingSink sink, ulong id, string model, int maxTokens) =>
        Assert.True(scheduler.TrySubmit(NewRequest(sink, id, model, maxTokens), out _, out var message), message);

    private static InferenceRequest NewRequest(CountingSink sink, ulong id, string model, int maxTokens) =>
        new(id, model, new GenerationRequest(TestModels.Prompt) { MaxTokens = maxTokens }, sink, CancellationToken.None);

    /// <summary>A pool big enough for every test model and a scheduler over them, disposed in order.</summary>
    /// <summary>The default runtime (llama.cpp) on a test's clock.</summary>
    private sealed class ClockRuntime(TimeProvider clock) : SchedulerRuntime
    {
        public override TimeProvider Time => clock;
    }

    private sealed class Run : IAsyncDisposable
    {
        private Run(ModelPool pool, Scheduler scheduler, ServerMetrics metrics, SchedulerOptions options)
        {
            Pool = pool;
            Scheduler = scheduler;
            Metrics = metrics;
            Options = options;
        }

        public ModelPool Pool { get; }

        public Scheduler Scheduler { get; }

        public ServerMetrics Metrics { get; }

        public SchedulerOptions Options { get; }

        public static Run Start(TestModels models, SchedulerOptions options)
        {
            var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = 1L << 32 });
            var names = new List<string>();
            for (var i = 0; i < models.Paths.Count; i++)
            {
                pool.Register(new ModelRegistration($"m{i}", models.Paths[i]));
                names.Add($"m{i}");
            }

            var metrics = new ServerMetrics();
            return new Run(pool, new Scheduler(pool, names, options, metrics, NullLogger<Scheduler>.Instance), metrics, options);
        }

        public async ValueTask DisposeAsync()
        {
            await Scheduler.DisposeAsync();
            Pool.Dispose();
            Metrics.Dispose();
        }
    }

    /// <summary>
    /// Holds a worker at its decode steps: <see cref="Reached"/> completes when a step is held, <see cref="Open"/> lets
    /// steps run (until <see cref="CloseAfter"/> steps, when given). Chains to an existing fault injection.
    /// </summary>
    private sealed class StepGate : IDisposable
    {
        private readonly ManualResetEventSlim open = new(false);
        private TaskCompletionSource reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int stepsBeforeClose = -1;

        public StepGate(SchedulerOptions options)
        {
            var inner = options.FaultInjection;
            Options = options with
            {
                FaultInjection = (model, at) =>
                {
                    inner?.Invoke(model, at);
                    if (at != WorkerStage.Step)
                    {
                        return;
                    }

                    if (Interlocked.Decrement(ref stepsBeforeClose) == 0)
                    {
                        open.Reset();
                    }

                    if (!open.IsSet)
                    {
                        reached.TrySetResult();
                        open.Wait();
                    }
                },
            };
        }

        public SchedulerOptions Options { get; }

        public Task Reached => reached.Task;

        public void Open()
        {
            reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            open.Set();
        }

        public void CloseAfter(int steps) => Volatile.Write(ref stepsBeforeClose, steps);

        public void Dispose()
        {
            open.Set();
            open.Dispose();
        }
    }

    /// <summary>Records text, every terminal call per request (to prove exactly one), and the order they ended in.</summary>
    private sealed class CountingSink : IResponseSink
    {
        private readonly ConcurrentDictionary<ulong, StringBuilder> texts = new();
        private readonly ConcurrentDictionary<ulong, int> terminals = new();
        private readonly ConcurrentDictionary<ulong, TaskCompletionSource<RecordingSink.Outcome>> outcomes = new();
        private readonly ConcurrentQueue<ulong> order = new();

        public IReadOnlyList<ulong> CompletionOrder => [.. order];

        public void OnText(ulong requestId, ReadOnlySpan<byte> utf8)
        {
            var text = texts.GetOrAdd(requestId, _ => new StringBuilder());
            lock (text)
            {
                text.Append(Encoding.UTF8.GetString(utf8));
            }
        }

        public void OnCompleted(ulong requestId, CompletionStats stats) => End(requestId, new RecordingSink.Outcome(Text(requestId), stats, null, null));

        public void OnFailed(ulong requestId, RequestError failure, string message) => End(requestId, new RecordingSink.Outcome(Text(requestId), null, failure, message));

        public Task<RecordingSink.Outcome> WhenDone(ulong requestId) => Pending(requestId).Task;

        public void AssertOneTerminalEach() => Assert.All(terminals, t => Assert.True(t.Value == 1, $"request {t.Key} ended {t.Value} times"));

        private void End(ulong id, RecordingSink.Outcome outcome)
        {
            terminals.AddOrUpdate(id, 1, (_, n) => n + 1);
            order.Enqueue(id);
            Pending(id).TrySetResult(outcome);
        }

        private TaskCompletionSource<RecordingSink.Outcome> Pending(ulong id) =>
            outcomes.GetOrAdd(id, _ => new TaskCompletionSource<RecordingSink.Outcome>(TaskCreationOptions.RunContinuationsAsynchronously));

        private string Text(ulong id) => texts.TryGetValue(id, out var text) ? text.ToString() : "";
    }
}
