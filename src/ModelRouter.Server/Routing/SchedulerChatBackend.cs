using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using ModelRouter.Routing.Fallback;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Routing;

/// <summary>
/// The local member that ends every route's fallback chain: submits the request to the scheduler for the model the
/// policy chose (carried in <see cref="ChatRequest.LocalContext"/>) and streams what the worker generates. A refusal
/// or failure becomes an <see cref="UpstreamException"/> for the chain and is kept in the
/// <see cref="LocalGeneration"/>, so the client gets the scheduler's own error (overloaded, unavailable...).
/// </summary>
internal sealed class SchedulerChatBackend(Func<Scheduler> scheduler) : IChatBackend
{
    public const string MemberName = "local";

    public string Name => MemberName;

    public bool IsLocal => true;

    public async IAsyncEnumerable<string> StreamAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var local = request.LocalContext as LocalGeneration
            ?? throw new InvalidOperationException("The local member needs the request's LocalGeneration in ChatRequest.LocalContext.");
        var sink = new ChannelSink();
        var inference = new InferenceRequest(local.RequestId, local.Model, local.Generation, sink, cancellationToken) { RouteTime = local.RouteTime };
        if (!scheduler().TrySubmit(inference, out var error, out var message))
        {
            throw Fail(local, error, message);
        }

        await foreach (var piece in sink.Pieces.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return piece;
        }

        if (sink.Failure is { } failure)
        {
            throw Fail(local, failure.Kind, failure.Message);
        }

        local.Stats = sink.Stats;
    }

    private static UpstreamException Fail(LocalGeneration local, RequestError error, string message)
    {
        local.Failure = (error, message);
        var kind = error == RequestError.Overloaded ? UpstreamFailure.Overloaded : UpstreamFailure.ServerError;
        return new UpstreamException(local.Model, kind, null, null, message);
    }

    /// <summary>Turns the worker's callbacks into a stream of text pieces (one string per piece: this path serves routes with remotes).</summary>
    private sealed class ChannelSink : IResponseSink
    {
        private readonly Channel<string> pieces = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

        public ChannelReader<string> Pieces => pieces.Reader;

        public CompletionStats? Stats { get; private set; }

        public (RequestError Kind, string Message)? Failure { get; private set; }

        public void OnText(ulong requestId, ReadOnlySpan<byte> utf8) => pieces.Writer.TryWrite(Encoding.UTF8.GetString(utf8));

        public void OnCompleted(ulong requestId, CompletionStats stats)
        {
            Stats = stats;
            pieces.Writer.TryComplete();
        }

        public void OnFailed(ulong requestId, RequestError failure, string message)
        {
            Failure = (failure, message);
            pieces.Writer.TryComplete();
        }
    }
}
