using ModelRouter.Protocol;

namespace ModelRouter.Client;

/// <summary>
/// One item of a streamed generation: a piece of text, or (last) the final result with the done frame's statistics.
/// </summary>
public readonly record struct GenerationChunk(string Text, int TokenCount, GenerationResult? Result)
{
    /// <summary>The last item of the stream: <see cref="Result"/> is set and <see cref="Text"/> is empty.</summary>
    public bool IsFinal => Result is not null;
}

/// <summary>How a generation ended, with the server's statistics (done frame).</summary>
public sealed class GenerationResult
{
    /// <summary>The model that served the request.</summary>
    public required string Model { get; init; }

    /// <summary>The task type the router named; empty when the request named its model.</summary>
    public string TaskType { get; init; } = "";

    /// <summary>The cluster node that ran it (a request may be forwarded to the node holding its model); empty outside a cluster.</summary>
    public string Node { get; init; } = "";

    /// <summary>Why it ran on <see cref="Node"/>: the cluster router's reason (OnDevice, InHostRam, LeastLoaded, Kept) or a fallback's; empty outside a cluster.</summary>
    public string Placement { get; init; } = "";

    public GenerationStats Stats { get; init; }

    /// <summary>
    /// The whole generated text when the result comes from <see cref="ModelRouterClient.CompleteAsync"/>; empty on the
    /// final chunk of <see cref="ModelRouterClient.GenerateAsync"/> (the text was in the chunks).
    /// </summary>
    public string Text { get; init; } = "";

    public FinishReason FinishReason => Stats.FinishReason;

    public override string ToString() =>
        $"{Model}{(TaskType.Length > 0 ? $" ({TaskType})" : "")}{(Node.Length > 0 ? $" on {Node}" : "")}: {Stats.GeneratedTokens} tokens, {FinishReason}, " +
        $"route {Stats.RouteTime.TotalMicroseconds:F1} µs, queue {Stats.QueueWait.TotalMilliseconds:F1} ms, " +
        $"swap {Stats.SwapTime.TotalMilliseconds:F1} ms, TTFT {Stats.TimeToFirstToken.TotalMilliseconds:F1} ms, {Stats.TokensPerSecond:F1} tok/s";
}
