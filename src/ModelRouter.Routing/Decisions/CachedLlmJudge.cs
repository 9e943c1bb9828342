using System.Collections.Concurrent;

namespace ModelRouter.Routing.Decisions;

/// <summary>
/// Remembers a judge's answers by prompt (bounded, oldest entries evicted first), so the seconds a judge model takes
/// are paid once per distinct prompt. Concurrent callers asking about the same new prompt share one judge call.
/// </summary>
public sealed class CachedLlmJudge : ILlmJudge
{
    private readonly ILlmJudge inner;
    private readonly int capacity;
    private readonly ConcurrentDictionary<string, Lazy<Task<int?>>> answers = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> insertionOrder = new();
    private long hits;
    private long misses;

    public CachedLlmJudge(ILlmJudge inner, int capacity = 10_000)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        this.inner = inner;
        this.capacity = capacity;
    }

    public long Hits => Interlocked.Read(ref hits);

    public long Misses => Interlocked.Read(ref misses);

    public int Count => answers.Count;

    public async ValueTask<int?> ChooseAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default) =>
        (await ChooseCachedAsync(prompt, routes, cancellationToken).ConfigureAwait(false)).Choice;

    /// <summary>The answer, and whether it came from the cache.</summary>
    public async ValueTask<(int? Choice, bool Cached)> ChooseCachedAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(routes);

        // The routes are part of the key: the same prompt judged among other routes is another question.
        var key = string.Join('\u001f', routes) + '\u001e' + prompt;
        if (answers.TryGetValue(key, out var existing))
        {
            Interlocked.Increment(ref hits);
            return (await existing.Value.WaitAsync(cancellationToken).ConfigureAwait(false), true);
        }

        var created = new Lazy<Task<int?>>(() => inner.ChooseAsync(prompt, routes, CancellationToken.None).AsTask());
        var entry = answers.GetOrAdd(key, created);
        if (!ReferenceEquals(entry, created))
        {
            Interlocked.Increment(ref hits);
            return (await entry.Value.WaitAsync(cancellationToken).ConfigureAwait(false), true);
        }

        Interlocked.Increment(ref misses);
        insertionOrder.Enqueue(key);
        while (answers.Count > capacity && insertionOrder.TryDequeue(out var oldest))
        {
            answers.TryRemove(oldest, out _);
        }

        try
        {
            return (await entry.Value.WaitAsync(cancellationToken).ConfigureAwait(false), false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A failed judgement is not an answer: forget it so the next request asks again.
            answers.TryRemove(key, out _);
            throw;
        }
    }
}
