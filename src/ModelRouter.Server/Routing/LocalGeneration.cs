using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Routing;

/// <summary>
/// One routed request as the local member of a fallback chain runs it (the model the policy chose, the sampling
/// settings), and what that run left behind: its statistics, or why it failed.
/// </summary>
internal sealed class LocalGeneration(ulong requestId, string model, GenerationRequest generation, TimeSpan routeTime)
{
    public ulong RequestId { get; } = requestId;

    public string Model { get; } = model;

    public GenerationRequest Generation { get; } = generation;

    public TimeSpan RouteTime { get; } = routeTime;

    /// <summary>Set when the local model finished its answer.</summary>
    public CompletionStats? Stats { get; set; }

    /// <summary>Set when the local model could not answer (refused by the scheduler, or failed while generating).</summary>
    public (RequestError Kind, string Message)? Failure { get; set; }
}
