namespace ModelRouter.Routing.Policies;

/// <summary>
/// The request's own hard limits, its budget and its latency class, as the policies word them. Each policy applies
/// the limits of its concern only (capability neither, cost the budget, latency the class); a caller that must hold
/// both whichever policy chose (the server, for its clients' hints) checks the chosen candidates with this.
/// </summary>
public static class RequestLimits
{
    /// <summary>Why <paramref name="model"/> breaks the request's latency class or budget, or null.</summary>
    public static string? Problem(CatalogModel model, RoutingRequest request)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        return PolicyChecks.ClassProblem(model, request) ?? PolicyChecks.BudgetProblem(PolicyChecks.Cost(model, request), request);
    }
}
