using System.Diagnostics;
using System.Text;
using ModelRouter.Routing.Fallback;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Connections;

/// <summary>Routed requests whose route lists remote endpoints: served through the route's fallback chain.</summary>
public sealed partial class ClientConnection
{
    private void RunChain(uint id, FallbackChain chain, ChatRequest request, CancellationToken cancellation) =>
        _ = Task.Run(() => ServeChainAsync(id, chain, request, cancellation), CancellationToken.None);

    /// <summary>
    /// Streams the answer of the first chain member that produces one: a remote endpoint, or at the end the local
    /// model the policy chose (through the scheduler, with its usual statistics). Once a member has sent text the
    /// answer is that member's; a failure after that ends the request with an error rather than splicing in another
    /// model's words.
    /// </summary>
    private async Task ServeChainAsync(uint id, FallbackChain chain, ChatRequest request, CancellationToken cancellation)
    {
        var local = (LocalGeneration)request.LocalContext!;
        var started = Stopwatch.GetTimestamp();
        string? member = null;
        TimeSpan? firstPiece = null;
        var pieces = 0;
        try
        {
            await foreach (var piece in chain.StreamAsync(request, m => member = m, cancellation).ConfigureAwait(false))
            {
                firstPiece ??= Stopwatch.GetElapsedTime(started);
                pieces++;
                OnText(id, Encoding.UTF8.GetBytes(piece));
            }

            OnCompleted(id, local.Stats ?? RecordRemote(RemoteStats(FinishReason.EndOfGeneration)));
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            OnCompleted(id, local.Stats ?? RemoteStats(FinishReason.Cancelled));
        }
        catch (FallbackExhaustedException ex)
        {
            ServerLog.ChainExhausted(server.Logger, id, ex.Message);
            OnFailed(id, local.Failure?.Kind ?? RequestError.ModelUnavailable, ex.Message);
        }
        catch (Exception ex) when (ex is UpstreamException or HttpRequestException or IOException or OperationCanceledException)
        {
            OnFailed(id, local.Failure?.Kind ?? RequestError.ModelUnavailable, $"{AnsweredBy()} failed mid-answer: {ex.Message}");
        }

        // The chain names its local member "local"; clients see the model it ran.
        string AnsweredBy() => member is null or SchedulerChatBackend.MemberName ? local.Model : member;

        // The scheduler's worker records a local answer's metrics; a remote's are recorded here, under its name.
        CompletionStats RecordRemote(CompletionStats stats)
        {
            server.Metrics.RecordCompletion(stats);
            return stats;
        }

        // A remote reports no token counts over this API: its stream pieces stand in for them (OpenAI-compatible
        // servers send about one token per piece), and it has no queue or swap of ours.
        // (A local answer cancelled before the worker reported it lands here too, under the local model's name.)
        CompletionStats RemoteStats(FinishReason reason)
        {
            var streaming = Stopwatch.GetElapsedTime(started) - (firstPiece ?? TimeSpan.Zero);
            var rate = pieces > 1 && streaming > TimeSpan.Zero ? (pieces - 1) / streaming.TotalSeconds : 0;
            return new CompletionStats(AnsweredBy(), reason, local.RouteTime, TimeSpan.Zero, null, firstPiece, 0, pieces, rate);
        }
    }
}
