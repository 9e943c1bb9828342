using System.Runtime.CompilerServices;

namespace ModelRouter.Routing.Fallback;

/// <summary>
/// The open stream of the remote that answered: its first piece is already in hand, the rest is read on demand. The
/// answer belongs to this remote: a failure after the first piece is thrown as an <see cref="UpstreamException"/>
/// naming it, never replaced by another member's text (the caller may already have sent part of this one). Read once,
/// by one reader; dispose to release the connection.
/// </summary>
public sealed class RemoteAnswer : IAsyncDisposable
{
    private readonly IAsyncEnumerator<RemoteUpdate> updates;
    private readonly CancellationTokenSource cancellation;
    private readonly string first;
    private bool ended;
    private int reading;

    /// <param name="first">What arrived up to the first text; with <paramref name="ended"/>, all there was (an upstream
    /// that finishes without text has given an empty answer, not failed).</param>
    internal RemoteAnswer(string member, IAsyncEnumerator<RemoteUpdate> updates, RemoteUpdate? first, bool ended, CancellationTokenSource cancellation)
    {
        Member = member;
        this.updates = updates;
        this.cancellation = cancellation;
        this.ended = ended;
        this.first = first?.Text ?? string.Empty;
        if (first is { } update)
        {
            Note(update);
        }
    }

    public string Member { get; }

    /// <summary>Token counts, once the stream has ended, when the upstream reported them.</summary>
    public (int Prompt, int Completion)? Usage { get; private set; }

    /// <summary>Why the upstream stopped ("stop", "length", ...), once the stream has ended, when it said.</summary>
    public string? FinishReason { get; private set; }

    /// <summary>Yields the first piece, then the rest as the upstream sends it.</summary>
    /// <exception cref="UpstreamException">The remote failed mid-answer.</exception>
    /// <exception cref="OperationCanceledException">The caller cancelled (here, or through the token given when the chain opened the answer).</exception>
    public async IAsyncEnumerable<string> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref reading, 1) != 0)
        {
            throw new InvalidOperationException($"The answer of '{Member}' is being read or was read already; it can be read once.");
        }

        using var registration = cancellationToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), cancellation);
        if (first.Length > 0)
        {
            yield return first;
        }

        while (!ended)
        {
            RemoteUpdate update;
            try
            {
                if (!await updates.MoveNextAsync().ConfigureAwait(false))
                {
                    ended = true;
                    yield break;
                }

                update = updates.Current;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellation.IsCancellationRequested)
            {
                ended = true;
                throw Broken(ex);
            }

            Note(update);
            if (update.Text.Length > 0)
            {
                yield return update.Text;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Disposing the stream first closes the response (dropping the connection if it is unfinished), so the upstream
        // stops generating for nobody.
        await updates.DisposeAsync().ConfigureAwait(false);
        cancellation.Dispose();
    }

    private void Note(RemoteUpdate update)
    {
        FinishReason = update.FinishReason ?? FinishReason;
        Usage = update.Usage ?? Usage;
    }

    private UpstreamException Broken(Exception ex) => ex switch
    {
        UpstreamException u when u.Member == Member => u,
        UpstreamException u => new UpstreamException(Member, u.Failure, u.Status, u.RetryAfter, "failed mid-answer: " + u.Message),
        _ => new UpstreamException(Member, UpstreamFailure.Malformed, null, null, $"the stream broke mid-answer ({ex.GetType().Name}: {ex.Message})"),
    };
}
