namespace ModelRouter.Routing.Decisions;

/// <summary>What settled a route decision.</summary>
public enum DecisionSource
{
    /// <summary>The classifier, at or above the route's threshold.</summary>
    Classifier,

    /// <summary>The classifier was unsure and the policy's default route was used.</summary>
    DefaultRoute,

    /// <summary>The classifier was unsure and the LLM judge chose.</summary>
    Judge,

    /// <summary>As <see cref="Judge"/>, answered from the judge's cache.</summary>
    JudgeCache,
}
