using ModelRouter.Runtime.Generation;

namespace ModelRouter.Server.Requests;

/// <summary>The router's choice for a request that named no model, with its reasons.</summary>
public sealed record RouteOutcome(
    string Model,
    string Task,
    float Confidence,
    bool Unsure,
    string Reason,
    ModelTierView Tier,
    TimeSpan RouteTime,
    IReadOnlyList<string> Fallbacks)
{
    /// <summary>
    /// The cascade stage that named the task (hint, classifier, encoder, judge, default); <see cref="Confidence"/> is
    /// that stage's, and for default <see cref="Reason"/> says why every stage passed.
    /// </summary>
    public string Stage { get; init; } = "classifier";
}

/// <summary>
/// How a generation ended, with its statistics. <see cref="Total"/> is the whole request as the server saw it: from
/// the moment the pipeline took it to its last token (route, queue, swap, prefill and decode). <see cref="ToolCalls"/>:
/// the tool calls the answer made (requests that offered tools; 0 otherwise). <see cref="Node"/>: the cluster node that
/// ran it (this one, or the one it was forwarded to; empty outside a cluster), <see cref="Placement"/> why there.
/// </summary>
public sealed record GenerationDone(
    string Model,
    string Task,
    FinishReason FinishReason,
    int PromptTokens,
    int GeneratedTokens,
    double TokensPerSecond,
    TimeSpan RouteTime,
    TimeSpan QueueWait,
    TimeSpan? SwapTime,
    TimeSpan? TimeToFirstToken,
    TimeSpan Total,
    int CachedPromptTokens = 0,
    int ToolCalls = 0,
    string Node = "",
    string Placement = "");

/// <summary>Where a model's weights are now.</summary>
public enum ModelTierView
{
    Unknown,

    /// <summary>On the device (VRAM, or RAM on the CPU path): serves at once.</summary>
    Device,

    /// <summary>In the host-RAM tier: a swap-in away.</summary>
    Host,

    /// <summary>Only on disk: read, then swapped in.</summary>
    Disk,
}

/// <summary>What the model is doing.</summary>
public enum ModelStateView
{
    Unloaded,
    Ready,
    SwappingIn,
    SwappingOut,
    Failed,
}

/// <summary>One catalog model as clients see it.</summary>
public sealed record ModelView(
    string Name,
    ModelTierView Tier,
    ModelStateView State,
    ModelRouter.Routing.Policies.LatencyClass LatencyClass,
    bool Pinned,
    long WeightBytes,
    double CostPer1kTokens,
    int InFlight,
    int Queued,
    IReadOnlyList<string> Capabilities);

/// <summary>The server's counters; <see cref="ClusterNodes"/>: nodes in this node's view of its cluster (0 outside one).</summary>
public sealed record ServerStatsView(
    TimeSpan Uptime,
    int Connections,
    int InFlight,
    int Queued,
    int ResidentModels,
    long RequestsTotal,
    long TokensGenerated,
    long SwapsTotal,
    long ErrorsTotal,
    long DeviceBytesUsed,
    long DeviceBytesBudget,
    int ClusterNodes = 0);

/// <summary>What an admin operation did.</summary>
public sealed record AdminOutcome(AdminAction Action, string Model, ModelTierView Tier, ModelStateView State, TimeSpan Elapsed, string Message);
