using System.Globalization;

namespace ModelRouter.Routing.Policies;

/// <summary>
/// The cheapest capable model within the request's and the user's budget; among equal prices (local models cost
/// nothing) the smaller, so a large model is never paid for when a small one qualifies.
/// </summary>
public sealed class CostPolicy(ModelCatalog catalog) : IRoutingPolicy
{
    public string Name => "cost";

    public PolicyDecision Choose(RoutingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var verdicts = new List<CandidateVerdict>();
        (CatalogModel Model, double Cost)? best = null;
        foreach (var model in catalog.Models)
        {
            var problem = PolicyChecks.CapabilityProblem(catalog, model, request);
            var cost = PolicyChecks.Cost(model, request);
            problem ??= PolicyChecks.BudgetProblem(cost, request);
            if (problem is not null)
            {
                verdicts.Add(new CandidateVerdict(model.Name, false, problem));
                continue;
            }

            verdicts.Add(new CandidateVerdict(model.Name, true, string.Create(CultureInfo.InvariantCulture, $"costs {cost:0.#####} for {request.BilledTokens} tokens"), cost));
            if (best is null || cost < best.Value.Cost || (cost == best.Value.Cost && model.Size < best.Value.Model.Size))
            {
                best = (model, cost);
            }
        }

        return new PolicyDecision(Name, best?.Model.Name, verdicts);
    }
}
