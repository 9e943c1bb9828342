using System.Diagnostics;
using ModelRouter.Server.Options;

namespace ModelRouter.Server.Routing;

/// <summary>
/// Routes over the configured catalog: the classifier names the task (or the client's required capability does),
/// the task's route lists candidate models in order, and hints filter them: cost budget, latency class (a model
/// whose class is slower than asked is rejected). The first candidate left wins; when the classifier is unsure or
/// nothing qualifies, the default model serves. Every rejection is recorded with its reason.
/// </summary>
public sealed class CatalogRouter : IRequestRouter
{
    private static readonly string[] LatencyOrder = ["realtime", "interactive", "batch"];

    private readonly ITaskClassifier classifier;
    private readonly Dictionary<string, CatalogModelOptions> models;
    private readonly Dictionary<string, List<string>> routes;
    private readonly string defaultModel;

    public CatalogRouter(ServerOptions options, ITaskClassifier classifier)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(classifier);
        this.classifier = classifier;
        models = options.Models.ToDictionary(m => m.Name, StringComparer.Ordinal);
        routes = options.Routes.ToDictionary(r => r.Task, r => r.Models, StringComparer.OrdinalIgnoreCase);
        defaultModel = options.DefaultModel is { Length: > 0 } d ? d : options.Models[0].Name;
    }

    public RouteResult Route(string prompt, RouteHints hints)
    {
        ArgumentNullException.ThrowIfNull(hints);
        var start = Stopwatch.GetTimestamp();
        var (task, confidence, unsure) = hints.RequiredCapability is { Length: > 0 } required
            ? (required, 1f, false)
            : classifier.Classify(prompt);

        var candidates = routes.TryGetValue(task, out var routed)
            ? routed
            : models.Values.Where(m => m.Capabilities.Contains(task, StringComparer.OrdinalIgnoreCase)).Select(m => m.Name).ToList();
        var rejections = new List<string>();
        string? chosen = null;
        if (!unsure)
        {
            foreach (var name in candidates)
            {
                var model = models[name];
                if (hints.CostBudgetPer1kTokens is { } budget && model.CostPer1kTokens > budget)
                {
                    rejections.Add($"{name}: costs {model.CostPer1kTokens}/1k tokens, budget {budget}");
                    continue;
                }

                if (hints.LatencyClass is { Length: > 0 } wanted && Rank(model.LatencyClass) > Rank(wanted))
                {
                    rejections.Add($"{name}: latency class {model.LatencyClass} is slower than {wanted}");
                    continue;
                }

                chosen = name;
                break;
            }
        }
        else
        {
            rejections.Add($"classifier unsure ({task} at {confidence:F2}): default model");
        }

        if (chosen is null && hints.RequiredCapability is { Length: > 0 } && candidates.Count == 0)
        {
            throw new ArgumentException($"No model in the catalog has the capability '{hints.RequiredCapability}'.");
        }

        return new RouteResult(chosen ?? defaultModel, task, confidence, unsure || chosen is null, Stopwatch.GetElapsedTime(start), candidates, rejections);
    }

    private static int Rank(string latencyClass)
    {
        var index = Array.FindIndex(LatencyOrder, c => string.Equals(c, latencyClass, StringComparison.OrdinalIgnoreCase));
        return index < 0 ? LatencyOrder.Length : index;
    }
}
