namespace ModelRouter.Routing.Policies;

/// <summary>
/// The smallest model able to serve the task type: never a 32B model for what a 3B model does, and never a 3B model
/// for what needs 32B. Ties go to the cheaper, then the local, model.
/// </summary>
public sealed class CapabilityPolicy(ModelCatalog catalog) : IRoutingPolicy
{
    public string Name => "capability";

    public PolicyDecision Choose(RoutingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var verdicts = new List<CandidateVerdict>();
        CatalogModel? best = null;
        foreach (var model in catalog.Models)
        {
            if (PolicyChecks.CapabilityProblem(catalog, model, request) is { } problem)
            {
                verdicts.Add(new CandidateVerdict(model.Name, false, problem));
                continue;
            }

            verdicts.Add(new CandidateVerdict(model.Name, true, $"serves {request.TaskType} at size {model.Size}", (int)model.Size));
            if (best is null || Compare(model, best, request) < 0)
            {
                best = model;
            }
        }

        return new PolicyDecision(Name, best?.Name, verdicts);
    }

    private static int Compare(CatalogModel a, CatalogModel b, RoutingRequest request)
    {
        var c = a.Size.CompareTo(b.Size);
        if (c == 0)
        {
            c = PolicyChecks.Cost(a, request).CompareTo(PolicyChecks.Cost(b, request));
        }

        return c != 0 ? c : b.IsLocal.CompareTo(a.IsLocal);
    }
}
