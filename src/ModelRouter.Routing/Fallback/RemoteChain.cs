using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace ModelRouter.Routing.Fallback;

/// <summary>
/// The remote members of a route, tried in order until one starts answering; when none does, the caller (the server)
/// runs its local model. Each remote has its own Polly pipeline: retry of transient failures (outermost, so each retry
/// passes the breaker again), then a circuit breaker whose open state is the remote's cooldown (skipped without a
/// request), then a timeout to the first piece of text. Safe for concurrent requests; the breakers' state is shared by
/// them, which is the point.
/// </summary>
public sealed class RemoteChain
{
    private static readonly ResiliencePropertyKey<int> Tries = new("ModelRouter.Tries");

    private readonly (OpenAiRemote Remote, ResiliencePipeline Pipeline)[] members;

    /// <param name="http">Shared by every remote (one connection pool); see <see cref="OpenAiRemote(RemoteEndpoint, HttpClient, TimeProvider)"/>.</param>
    /// <param name="timeProvider">The clock of retries, timeouts and cooldowns (tests shift it).</param>
    public RemoteChain(IReadOnlyList<RemoteEndpoint> remotes, HttpClient http, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(remotes);
        ArgumentNullException.ThrowIfNull(http);
        if (remotes.Any(r => r is null))
        {
            throw new ArgumentException("A chain's remotes must not be null.", nameof(remotes));
        }

        var duplicate = remotes.GroupBy(r => r.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"Two remotes of one chain are named '{duplicate.Key}'; names identify members in attempts and answers.", nameof(remotes));
        }

        var clock = timeProvider ?? TimeProvider.System;
        members = remotes.Select(r => (new OpenAiRemote(r, http, clock), Build(r, clock))).ToArray();
    }

    public IReadOnlyList<string> Members => Array.ConvertAll(members, m => m.Remote.Name);

    /// <summary>
    /// Tries the members in order and returns the first whose stream produced its first piece of text (or ended
    /// without any: an empty answer). Retries, timeouts and moving on apply only until then.
    /// </summary>
    /// <param name="attempts">Gets one line per member tried or skipped, saying how it went.</param>
    /// <returns>The open answer (dispose it), or null when every member failed or was cooling down.</returns>
    /// <exception cref="OperationCanceledException">The caller cancelled; no member is blamed for it.</exception>
    /// <exception cref="ArgumentException">The request is invalid (no member is tried).</exception>
    public async Task<RemoteAnswer?> OpenAsync(RemoteChatRequest request, List<ChainAttempt> attempts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(attempts);
        request.Validate();
        foreach (var (remote, pipeline) in members)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var context = ResilienceContextPool.Shared.Get(cancellationToken);
            try
            {
                var answer = await pipeline.ExecuteAsync(
                    static (ctx, state) => OpenOneAsync(state.remote, state.request, ctx, state.cancellationToken),
                    context,
                    (remote, request, cancellationToken)).ConfigureAwait(false);
                attempts.Add(new ChainAttempt(remote.Name, true, "answered" + TriesSuffix(context)));
                return answer;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsMemberFailure(ex))
            {
                attempts.Add(new ChainAttempt(remote.Name, false, Describe(ex) + TriesSuffix(context)));
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is not OperationCanceledException)
            {
                // Whatever the cancelled request broke on (a torn connection, say), the cause is the caller.
                throw new OperationCanceledException("The request was cancelled by its caller.", ex, cancellationToken);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }

        return null;
    }

    /// <summary>One try: send the request and wait for the first piece of text (or the end of an empty answer).</summary>
    private static async ValueTask<RemoteAnswer> OpenOneAsync(OpenAiRemote remote, RemoteChatRequest request, ResilienceContext context, CancellationToken callerToken)
    {
        context.Properties.Set(Tries, context.Properties.GetValue(Tries, 0) + 1);

        // The stream outlives this try, so it gets its own token, tied to the caller's: the try's token (Polly's, pooled
        // and reused) may cancel it only while waiting for the first piece.
        var cancellation = CancellationTokenSource.CreateLinkedTokenSource(callerToken);
        var updates = remote.StreamAsync(request, cancellation.Token).GetAsyncEnumerator(cancellation.Token);
        try
        {
            var attemptToken = context.CancellationToken;
            using (attemptToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), cancellation))
            {
                RemoteUpdate? first = null;
                var ended = true;
                while (await updates.MoveNextAsync().ConfigureAwait(false))
                {
                    first = Merge(first, updates.Current);
                    if (first.Value.Text.Length > 0)
                    {
                        ended = false;
                        break;
                    }
                }

                // A timeout that fired as the first piece arrived still counts: Polly reports it as a timeout only if we throw.
                attemptToken.ThrowIfCancellationRequested();
                return new RemoteAnswer(remote.Name, updates, first, ended, cancellation);
            }
        }
        catch
        {
            await updates.DisposeAsync().ConfigureAwait(false);
            cancellation.Dispose();
            throw;
        }
    }

    private static RemoteUpdate Merge(RemoteUpdate? earlier, RemoteUpdate next) =>
        earlier is not { } e ? next : new RemoteUpdate(e.Text + next.Text, next.FinishReason ?? e.FinishReason, next.Usage ?? e.Usage);

    private static string TriesSuffix(ResilienceContext context) =>
        context.Properties.GetValue(Tries, 0) is var n and > 1 ? $" ({n} tries)" : string.Empty;

    /// <summary>
    /// Anything a remote throws once the request has been validated is that remote's failure (an SDK surprise
    /// included): the attempt line names it, and the next member, then the server's local model, still get their turn.
    /// An OperationCanceledException here is not the caller's (the filter checks that): HttpClient.Timeout, say.
    /// </summary>
    private static bool IsMemberFailure(Exception ex) => ex is not OutOfMemoryException;

    private static string Describe(Exception ex) => ex switch
    {
        BrokenCircuitException => "skipped: cooling down after repeated failures (circuit open)",
        TimeoutRejectedException t => $"timed out after {t.Timeout.TotalMilliseconds:0} ms waiting for the first piece",
        UpstreamException { Failure: UpstreamFailure.RateLimited, RetryAfter: { } wait } u => $"{u.Message} (Retry-After {wait.TotalSeconds:0.###} s)",
        UpstreamException u => u.Message,
        _ => ex.GetType().Name + ": " + ex.Message,
    };

    private static bool IsTransient(Exception? ex, RemoteEndpoint remote) => ex switch
    {
        // A wait longer than we are willing to spend is better spent on the next remote.
        UpstreamException { RetryAfter: { } wait } when wait > remote.MaxRetryAfter => false,
        UpstreamException u => u.IsTransient,
        HttpRequestException or IOException or TimeoutRejectedException => true,
        _ => false,
    };

    private static ResiliencePipeline Build(RemoteEndpoint remote, TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder { Name = remote.Name, TimeProvider = timeProvider };
        if (remote.Retries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = remote.Retries,
                Delay = remote.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome.Exception, remote)),
                // The upstream knows when it can take us again; IsTransient has already refused waits that are too long.
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Exception is UpstreamException { RetryAfter: { } wait } ? wait : (TimeSpan?)null),
            });
        }

        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = remote.BreakerFailureRatio,
                MinimumThroughput = remote.BreakerMinimumThroughput,
                SamplingDuration = remote.BreakerSamplingDuration,
                BreakDuration = remote.Cooldown,
                // Every failure of the remote counts, timeouts included; the caller cancelling does not (it says nothing
                // about the remote). The context's token here is the caller's: the timeout's own lies further in.
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception switch
                {
                    null => false,
                    OperationCanceledException => !args.Context.CancellationToken.IsCancellationRequested,
                    _ => true,
                }),
            })
            .AddTimeout(remote.AttemptTimeout)
            .Build();
    }
}
