using System.Globalization;

namespace ModelRouter.Routing.Policies;

/// <summary>The hard constraints every policy applies, each with the sentence that explains a rejection.</summary>
internal static class PolicyChecks
{
    /// <summary>Why <paramref name="model"/> cannot serve the request's task at all, or null when it can.</summary>
    public static string? CapabilityProblem(ModelCatalog catalog, CatalogModel model, RoutingRequest request)
    {
        if (model.TaskTypes.Count > 0 && !model.TaskTypes.Contains(request.TaskType))
        {
            return $"does not serve {request.TaskType} (serves {string.Join(", ", model.TaskTypes.Order(StringComparer.Ordinal))})";
        }

        var required = catalog.RequiredSize(request.TaskType);
        if (model.Size < required)
        {
            return $"size {model.Size} is below the {required} that {request.TaskType} needs";
        }

        if (model.ContextLength < request.BilledTokens)
        {
            return string.Create(CultureInfo.InvariantCulture, $"context {model.ContextLength} tokens is shorter than the request's {request.BilledTokens}");
        }

        return null;
    }

    /// <summary>The request's price on <paramref name="model"/>.</summary>
    public static double Cost(CatalogModel model, RoutingRequest request) => request.BilledTokens / 1000.0 * model.CostPer1kTokens;

    /// <summary>Why the price is over a budget, or null.</summary>
    public static string? BudgetProblem(double cost, RoutingRequest request) =>
        request.RequestBudget is { } budget && cost > budget
            ? string.Create(CultureInfo.InvariantCulture, $"costs {cost:0.#####}, over the request budget {budget:0.#####}")
            : null;

    /// <summary>Why the model's latency class is looser than the request's, or null.</summary>
    public static string? ClassProblem(CatalogModel model, RoutingRequest request) =>
        model.Latency > request.Class ? $"is meant for {model.Latency} requests, not {request.Class}" : null;

    /// <summary>Why the model is too slow for the request's class, or null.</summary>
    public static string? LatencyProblem(CatalogModel model, RoutingRequest request, TimeSpan timeToFirstToken, LatencyLimits limits)
    {
        if (ClassProblem(model, request) is { } problem)
        {
            return problem;
        }

        var limit = limits.For(request.Class);
        return timeToFirstToken > limit
            ? string.Create(CultureInfo.InvariantCulture, $"first token in ~{timeToFirstToken.TotalMilliseconds:0} ms, over the {request.Class} limit of {limit.TotalMilliseconds:0} ms")
            : null;
    }
}
