using System.Runtime.CompilerServices;
using System.Text;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace ModelRouter.Routing.Fallback;

/// <summary>
/// An ordered chain of backends for one route: on failure, timeout, rate limit or overload the request moves to the
/// next member; the last member is local, so the chain ends with a model this process serves. Each member has its
/// own Polly pipeline (retry, then circuit breaker, then per-attempt timeout); an open breaker is the member's
/// cooldown, during which the chain skips it without waiting. Safe for concurrent requests.
/// </summary>
public sealed class FallbackChain
{
    private readonly (FallbackMember Member, ResiliencePipeline Pipeline)[] members;

    public FallbackChain(IReadOnlyList<FallbackMember> chain, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(chain);
        if (chain.Count == 0)
        {
            throw new ArgumentException("A fallback chain needs at least one member.", nameof(chain));
        }

        if (!chain[^1].Backend.IsLocal)
        {
            throw new ArgumentException($"The last member of a fallback chain must be local; '{chain[^1].Backend.Name}' is remote.", nameof(chain));
        }

        members = chain.Select(m => (m, Build(m, timeProvider ?? TimeProvider.System))).ToArray();
    }

    public IReadOnlyList<string> Members => members.Select(m => m.Member.Backend.Name).ToArray();

    /// <summary>Completes the request with the first member that answers in full (a member failing mid-answer is retried or passed over, since nothing was returned yet).</summary>
    /// <exception cref="FallbackExhaustedException">Every member failed.</exception>
    public async Task<ChainResult> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var attempts = new List<ChainAttempt>();
        Exception? last = null;
        foreach (var (member, pipeline) in members)
        {
            var name = member.Backend.Name;
            try
            {
                var text = await pipeline.ExecuteAsync(
                    async ct =>
                    {
                        var answer = new StringBuilder();
                        await foreach (var piece in member.Backend.StreamAsync(request, ct).ConfigureAwait(false))
                        {
                            answer.Append(piece);
                        }

                        return answer.ToString();
                    },
                    cancellationToken).ConfigureAwait(false);
                attempts.Add(new ChainAttempt(name, true, "answered"));
                return new ChainResult(name, text, attempts);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsMemberFailure(ex))
            {
                attempts.Add(new ChainAttempt(name, false, Describe(ex)));
                last = ex;
            }
        }

        throw new FallbackExhaustedException(attempts, last);
    }

    /// <summary>
    /// Streams the answer of the first member that produces a first piece of text. Retries, timeouts and moving on
    /// apply until that first piece; after it the answer belongs to that member, and a failure mid-stream is thrown
    /// (the caller has already seen part of the answer, so another model cannot silently take over).
    /// </summary>
    /// <param name="onMember">Told which member is answering, before its first piece.</param>
    public async IAsyncEnumerable<string> StreamAsync(ChatRequest request, Action<string>? onMember = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var attempts = new List<ChainAttempt>();
        Exception? last = null;
        foreach (var (member, pipeline) in members)
        {
            var name = member.Backend.Name;
            Opened? opened = null;
            try
            {
                opened = await pipeline.ExecuteAsync(ct => OpenAsync(member.Backend, request, ct, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsMemberFailure(ex))
            {
                attempts.Add(new ChainAttempt(name, false, Describe(ex)));
                last = ex;
                continue;
            }

            await using (opened.Enumerator.ConfigureAwait(false))
            {
                using (opened.Cancellation)
                {
                    onMember?.Invoke(name);
                    if (opened.First is null)
                    {
                        yield break;
                    }

                    yield return opened.First;
                    while (await opened.Enumerator.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield return opened.Enumerator.Current;
                    }
                }
            }

            yield break;
        }

        throw new FallbackExhaustedException(attempts, last);
    }

    private static async ValueTask<Opened> OpenAsync(IChatBackend backend, ChatRequest request, CancellationToken attemptToken, CancellationToken callerToken)
    {
        // The stream outlives this attempt, so it gets its own token: the attempt's (Polly's, pooled and reused) only
        // cancels it while waiting for the first piece.
        var cancellation = CancellationTokenSource.CreateLinkedTokenSource(callerToken);
        var enumerator = backend.StreamAsync(request, cancellation.Token).GetAsyncEnumerator(cancellation.Token);
        try
        {
            using (attemptToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), cancellation))
            {
                var first = await enumerator.MoveNextAsync().ConfigureAwait(false) ? enumerator.Current : null;
                attemptToken.ThrowIfCancellationRequested();
                return new Opened(enumerator, first, cancellation);
            }
        }
        catch
        {
            await enumerator.DisposeAsync().ConfigureAwait(false);
            cancellation.Dispose();
            throw;
        }
    }

    private static bool IsMemberFailure(Exception ex) =>
        ex is UpstreamException or HttpRequestException or IOException or TimeoutRejectedException or BrokenCircuitException
            or OperationCanceledException;

    private static string Describe(Exception ex) => ex switch
    {
        BrokenCircuitException => "skipped: cooling down after repeated failures (circuit open)",
        TimeoutRejectedException t => $"timed out after {t.Timeout.TotalMilliseconds:0} ms",
        UpstreamException u => u.Message,
        _ => ex.GetType().Name + ": " + ex.Message,
    };

    private static bool IsTransient(Exception? ex, FallbackMember member) => ex switch
    {
        UpstreamException { Failure: UpstreamFailure.RateLimited, RetryAfter: { } wait } => wait <= member.MaxRetryAfter,
        UpstreamException u => u.IsTransient,
        HttpRequestException or IOException or TimeoutRejectedException => true,
        _ => false,
    };

    private static ResiliencePipeline Build(FallbackMember member, TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider };
        if (member.Retries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = member.Retries,
                Delay = member.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome.Exception, member)),
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Exception is UpstreamException { RetryAfter: { } wait } && wait > TimeSpan.Zero ? wait : (TimeSpan?)null),
            });
        }

        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = member.BreakerFailureRatio,
                MinimumThroughput = member.BreakerMinimumThroughput,
                SamplingDuration = member.BreakerSamplingDuration,
                BreakDuration = member.Cooldown,
                // Every failure of the member counts (timeouts included); the caller cancelling does not.
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is not null and not OperationCanceledException),
            })
            .AddTimeout(member.AttemptTimeout)
            .Build();
    }

    private sealed record Opened(IAsyncEnumerator<string> Enumerator, string? First, CancellationTokenSource Cancellation);
}
