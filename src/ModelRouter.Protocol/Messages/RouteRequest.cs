namespace ModelRouter.Protocol;

/// <summary>A route-only request: which model would serve this prompt, without generating.</summary>
public sealed class RouteRequest
{
    public required string Prompt { get; init; }

    public LatencyClass LatencyClass { get; init; }

    /// <summary>0 means no budget.</summary>
    public float CostBudget { get; init; }

    public string? RequiredCapability { get; init; }
}

/// <summary>The router's decision (route-result frame).</summary>
public sealed class RouteDecision
{
    /// <summary>The chosen model.</summary>
    public required string Model { get; init; }

    /// <summary>The task type the classifier named (e.g. "code", "chat"); empty when not classified.</summary>
    public string TaskType { get; init; } = "";

    /// <summary>Human-readable reason: policy and rule that decided.</summary>
    public string Reason { get; init; } = "";

    /// <summary>The deciding stage's confidence in [0, 1] (NaN when not classified).</summary>
    public float Confidence { get; init; }

    /// <summary>The cascade stage that named the task (<see cref="RouteStage.None"/> from a version 1 session).</summary>
    public RouteStage Stage { get; init; }

    /// <summary>Where the chosen model's weights are now.</summary>
    public ModelTier Tier { get; init; }

    /// <summary>Time the router took, in nanoseconds.</summary>
    public long RouteNanos { get; init; }

    /// <summary>The fallback chain after the chosen model, in order.</summary>
    public IReadOnlyList<string> Fallbacks { get; init; } = [];

    public TimeSpan RouteTime => Durations.FromNanos(RouteNanos);
}
