namespace ModelRouter.Routing.Policies;

/// <summary>One model the router may choose, local (served by our pool) or remote (an OpenAI-compatible endpoint).</summary>
public sealed record CatalogModel
{
    public required string Name { get; init; }

    /// <summary>Task types (routes) the model is fit for; empty means "any task its size qualifies for".</summary>
    public IReadOnlySet<string> TaskTypes { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    public SizeClass Size { get; init; }

    /// <summary>Price per 1000 tokens (prompt and output alike), in the operator's currency; 0 for local models.</summary>
    public double CostPer1kTokens { get; init; }

    /// <summary>The most demanding request class the model is meant to serve.</summary>
    public LatencyClass Latency { get; init; } = LatencyClass.Interactive;

    /// <summary>Context window in tokens.</summary>
    public int ContextLength { get; init; } = 4096;

    public bool IsLocal { get; init; } = true;

    /// <summary>Base address of a remote model's OpenAI-compatible API (null for local models).</summary>
    public Uri? Endpoint { get; init; }
}
