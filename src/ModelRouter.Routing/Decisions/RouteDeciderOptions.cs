namespace ModelRouter.Routing.Decisions;

/// <summary>What a <see cref="RouteDecider"/> does with the classifier's confidence.</summary>
public sealed record RouteDeciderOptions
{
    /// <summary>The route taken when the classifier is unsure (and the judge is not used or cannot answer).</summary>
    public required string DefaultRoute { get; init; }

    /// <summary>Per-route thresholds overriding the ones stored in the classifier file (calibrated probability, 0..1).</summary>
    public IReadOnlyDictionary<string, float>? Thresholds { get; init; }

    /// <summary>One threshold for every route not in <see cref="Thresholds"/>, instead of the file's.</summary>
    public float? UniformThreshold { get; init; }

    /// <summary>Ask the LLM judge (when one is given) about unsure prompts, in <see cref="RouteDecider.DecideAsync"/>.</summary>
    public bool UseJudge { get; init; } = true;
}
