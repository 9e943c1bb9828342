using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>
/// Runs a routed request on the cluster node that serves its model best (issue 21). The pipeline asks
/// <see cref="Choose"/> once the model is known; a target other than this node gets the request over the socket
/// protocol (<see cref="ForwardAsync"/>), flagged as forwarded so that it is never forwarded again (one hop at most).
/// Registered by the cluster (ModelRouter.Cluster); a server outside a cluster has none and serves everything itself.
/// </summary>
public interface IRequestForwarder
{
    /// <summary>This node's name in the cluster: the serving node of the requests it runs itself.</summary>
    string LocalNode { get; }

    /// <summary>
    /// Whether this node takes forwarded work now. False while its view of the cluster is stale (it cannot reach the
    /// directory: partitioned, or leaving): a node that others may already count as gone must not run work for them,
    /// and the forwarding node then serves the request itself.
    /// </summary>
    bool AcceptsForwarded { get; }

    /// <summary>
    /// The node to run <paramref name="model"/> on and why (this node's own name to run it here); null when the
    /// cluster cannot say (this node's view is stale, or no node publishes the model): then it runs here.
    /// </summary>
    ForwardTarget? Choose(string model);

    /// <summary>Nodes in this node's view of the cluster, itself included (for the stats).</summary>
    int NodesInView { get; }

    /// <summary>
    /// Runs the request on <paramref name="target"/> with <paramref name="model"/> named: text pieces, then one piece with
    /// <see cref="ForwardedPiece.Done"/>. Cancelling <paramref name="cancellation"/> cancels it on that node.
    /// </summary>
    /// <exception cref="ForwardException">The node could not be reached, refused the request or failed while answering.</exception>
    IAsyncEnumerable<ForwardedPiece> ForwardAsync(ForwardTarget target, GenerationCommand command, string model, CancellationToken cancellation);
}

/// <summary>Where a request goes: the node, its socket door (empty for this node), and why it was chosen (reported in done stats).</summary>
public sealed record ForwardTarget(string Node, string Endpoint, string Reason);

/// <summary>A piece of a forwarded answer: text, or (last) the serving node's statistics.</summary>
public readonly record struct ForwardedPiece(string Text, ForwardedDone? Done = null);

/// <summary>The serving node's end of a forwarded request (its done frame).</summary>
public sealed record ForwardedDone(
    string Model,
    string Node,
    FinishReason FinishReason,
    int PromptTokens,
    int CachedPromptTokens,
    int GeneratedTokens,
    double TokensPerSecond,
    TimeSpan QueueWait,
    TimeSpan? SwapTime);

/// <summary>A forward that did not produce an answer: unreachable node, refusal, or a failure while answering.</summary>
public sealed class ForwardException : Exception
{
    public ForwardException()
    {
    }

    public ForwardException(string message)
        : base(message)
    {
    }

    public ForwardException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ForwardException(RequestError error, string message, Exception? innerException = null)
        : base(message, innerException) => Error = error;

    /// <summary>The serving node's error, as the pipeline's type.</summary>
    public RequestError Error { get; } = RequestError.ModelUnavailable;
}
