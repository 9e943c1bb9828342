using ModelRouter.Routing.Classification;

namespace ModelRouter.Routing.Decisions;

/// <summary>
/// Turns classifier scores into a decision that admits doubt: a decision is sure only when its calibrated confidence
/// exceeds its route's threshold (so 0 never doubts and 1 always does); otherwise it is unsure, and
/// then the policy decides: the default route (synchronous, allocation-free) or the LLM judge (asynchronous; its
/// answers are cached by whoever implements <see cref="ILlmJudge"/>, see <see cref="CachedLlmJudge"/>).
/// </summary>
public sealed class RouteDecider
{
    private readonly TaskClassifier classifier;
    private readonly ILlmJudge? judge;
    private readonly float[] thresholds;
    private readonly bool useJudge;

    public RouteDecider(TaskClassifier classifier, RouteDeciderOptions options, ILlmJudge? judge = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(options);
        this.classifier = classifier;
        this.judge = judge;
        useJudge = options.UseJudge && judge is not null;
        DefaultRoute = classifier.IndexOf(options.DefaultRoute);
        if (DefaultRoute < 0)
        {
            throw new ArgumentException($"The default route '{options.DefaultRoute}' is not one of the classifier's routes ({string.Join(", ", classifier.Labels)}).", nameof(options));
        }

        thresholds = classifier.Thresholds.ToArray();
        if (options.UniformThreshold is { } uniform)
        {
            Array.Fill(thresholds, CheckThreshold(uniform, "uniform"));
        }

        foreach (var (route, value) in options.Thresholds ?? new Dictionary<string, float>())
        {
            var index = classifier.IndexOf(route);
            if (index < 0)
            {
                throw new ArgumentException($"A threshold names route '{route}', which the classifier does not have ({string.Join(", ", classifier.Labels)}).", nameof(options));
            }

            thresholds[index] = CheckThreshold(value, route);
        }
    }

    /// <summary>Index of the default route.</summary>
    public int DefaultRoute { get; }

    public IReadOnlyList<string> Routes => classifier.Labels;

    /// <summary>The threshold in force for each route.</summary>
    public ReadOnlySpan<float> Thresholds => thresholds;

    /// <summary>Decides without the judge: unsure decisions take the default route. Allocates nothing.</summary>
    public RouteDecision Decide(ReadOnlySpan<char> text, Span<float> scores)
    {
        var prediction = classifier.Classify(text, scores);
        return prediction.Confidence > thresholds[prediction.Label]
            ? new RouteDecision(prediction.Label, prediction.Confidence, false, DecisionSource.Classifier, prediction.Label)
            : new RouteDecision(DefaultRoute, prediction.Confidence, true, DecisionSource.DefaultRoute, prediction.Label);
    }

    /// <summary>
    /// Decides, asking the judge about unsure prompts when configured; if the judge gives no usable answer (or throws
    /// anything but cancellation), the default route is taken, so a broken judge never fails a request.
    /// </summary>
    public async ValueTask<RouteDecision> DecideAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        var decision = Decide(text, new float[classifier.LabelCount]);
        if (!decision.Unsure || !useJudge)
        {
            return decision;
        }

        int? choice;
        bool cached;
        try
        {
            if (judge is CachedLlmJudge cache)
            {
                (choice, cached) = await cache.ChooseCachedAsync(text, classifier.Labels, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                choice = await judge!.ChooseAsync(text, classifier.Labels, cancellationToken).ConfigureAwait(false);
                cached = false;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return decision;
        }

        return choice is { } route && route >= 0 && route < classifier.LabelCount
            ? decision with { Route = route, Source = cached ? DecisionSource.JudgeCache : DecisionSource.Judge }
            : decision;
    }

    private static float CheckThreshold(float value, string route) =>
        float.IsFinite(value) && value is >= 0 and <= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"threshold for '{route}' must be within 0..1 (a calibrated probability)");
}
