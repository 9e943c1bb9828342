using ModelRouter.Routing.Policies;

namespace ModelRouter.Server.Routing;

/// <summary>What a client may say about a request it wants routed.</summary>
public sealed record RouteHints
{
    /// <summary>The latency class the model must meet; null: any.</summary>
    public LatencyClass? LatencyClass { get; init; }

    /// <summary>Most the client will pay per 1k tokens; null: no limit.</summary>
    public double? CostBudgetPer1kTokens { get; init; }

    /// <summary>A capability the model must have (overrides the classifier's task).</summary>
    public string? RequiredCapability { get; init; }

    public static RouteHints None { get; } = new();
}

/// <summary>
/// A routing decision with its reasons, so every choice can be explained. <see cref="Considered"/> names the task's
/// candidates (the chosen one and the other qualifying ones best first, then the rejected); <see cref="Rejections"/>
/// holds "model: reason" for each rejected candidate and why the default model serves, when it does.
/// </summary>
public sealed record RouteResult(
    string Model,
    string Task,
    float Confidence,
    bool Unsure,
    TimeSpan Elapsed,
    IReadOnlyList<string> Considered,
    IReadOnlyList<string> Rejections)
{
    /// <summary>The cascade stage that named the task: hint, classifier, encoder, judge or default.</summary>
    public string Stage { get; init; } = "classifier";

    /// <summary>The policy that judged the candidates (capability, cost, latency, hybrid).</summary>
    public string Policy { get; init; } = "";

    /// <summary>The policy's verdict on every candidate, with the hints' limits applied (empty when none was judged).</summary>
    public IReadOnlyList<CandidateVerdict> Verdicts { get; init; } = [];

    /// <summary>One line for the wire: why the chosen model won, then every rejection, then the deciding stage and its confidence.</summary>
    public string Explain()
    {
        var won = Unsure ? null : Verdicts.FirstOrDefault(v => v.Accepted && v.Model == Model);
        var lines = won is null ? Rejections : Rejections.Prepend($"{Policy} chose {Model}: {won.Reason}");
        var text = string.Join("; ", lines);
        var stage = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"stage {Stage} ({Confidence:F2})");
        text = text.Length == 0 ? stage : $"{text}; {stage}";
        return Unsure ? "unsure: " + text : text;
    }
}

/// <summary>Chooses the model for a request that did not name one.</summary>
public interface IRequestRouter
{
    /// <exception cref="ArgumentException">No model can serve the request under its hints (the message says why).</exception>
    RouteResult Route(string prompt, RouteHints hints);

    /// <summary>
    /// As <see cref="Route"/>, awaiting the cascade's LLM judge when it is asked; completes synchronously otherwise.
    /// </summary>
    /// <exception cref="ArgumentException">No model can serve the request under its hints (the message says why).</exception>
    ValueTask<RouteResult> RouteAsync(string prompt, RouteHints hints, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Route(prompt, hints));
}

/// <summary>Names the task type of a prompt (the router's classifier, behind an interface the server owns).</summary>
public interface ITaskClassifier
{
    /// <summary>The task label, its calibrated confidence, and whether it is below the route's threshold.</summary>
    (string Task, float Confidence, bool Unsure) Classify(string prompt);
}
