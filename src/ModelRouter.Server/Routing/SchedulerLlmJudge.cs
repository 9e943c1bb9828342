using System.Text;
using ModelRouter.Routing.Decisions;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Routing;

/// <summary>
/// The cascade's LLM judge on a catalog model, through the scheduler like any request (so it shares the model's batch,
/// residency and swaps with client traffic): the prompt of <see cref="GeneratorLlmJudge.BuildPrompt"/>, greedy, a few
/// tokens, and the first route named in the answer. Wrapped in <see cref="CachedLlmJudge"/> by the server.
/// </summary>
public sealed class SchedulerLlmJudge : ILlmJudge
{
    // Ids of judge requests live in the upper half of the id space; the pipeline counts up from 1 in the lower half.
    private static long nextId;
    private readonly Func<Scheduler?> scheduler;
    private readonly string model;
    private readonly int maxTokens;

    public SchedulerLlmJudge(Func<Scheduler?> scheduler, string model, int maxTokens = 8)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentException.ThrowIfNullOrEmpty(model);
        this.scheduler = scheduler;
        this.model = model;
        this.maxTokens = maxTokens;
    }

    public async ValueTask<int?> ChooseAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default)
    {
        var target = scheduler() ?? throw new InvalidOperationException("the server has not started: no scheduler to judge with");
        var sink = new Answer();
        var generation = new GenerationRequest(GeneratorLlmJudge.BuildPrompt(prompt, routes)) { MaxTokens = maxTokens, Sampling = SamplingParameters.Greedy };
        var id = 0x8000_0000_0000_0000UL | (ulong)Interlocked.Increment(ref nextId);
        if (!target.TrySubmit(new InferenceRequest(id, model, generation, sink, cancellationToken), out var error, out var message))
        {
            throw new InvalidOperationException($"judge model {model} refused the request ({error}: {message})");
        }

        var answer = await sink.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return GeneratorLlmJudge.ParseAnswer(answer, routes);
    }

    private sealed class Answer : IResponseSink
    {
        private readonly StringBuilder text = new();

        public TaskCompletionSource<string> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnText(ulong requestId, ReadOnlySpan<byte> utf8)
        {
            lock (text)
            {
                text.Append(Encoding.UTF8.GetString(utf8));
            }
        }

        public void OnCompleted(ulong requestId, CompletionStats stats)
        {
            lock (text)
            {
                Completion.TrySetResult(text.ToString());
            }
        }

        public void OnFailed(ulong requestId, RequestError failure, string message) =>
            Completion.TrySetException(new InvalidOperationException($"judge generation failed ({failure}: {message})"));
    }
}
