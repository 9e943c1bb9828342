namespace ModelRouter.Routing.Policies;

/// <summary>What a policy knows about one request.</summary>
public sealed record RoutingRequest
{
    /// <summary>The task type (route) the classifier or judge chose.</summary>
    public required string TaskType { get; init; }

    public int PromptTokens { get; init; }

    public int MaxOutputTokens { get; init; } = 256;

    public LatencyClass Class { get; init; } = LatencyClass.Interactive;

    /// <summary>Most this request may cost (null: no per-request budget).</summary>
    public double? RequestBudget { get; init; }

    /// <summary>Tokens the request will be billed for (prompt plus the most it may generate).</summary>
    public int BilledTokens => PromptTokens + MaxOutputTokens;
}
