using System.Globalization;

namespace ModelRouter.Routing.Policies;

/// <summary>Weights of the hybrid policy's three terms (each term is scaled to 0..1 before weighting).</summary>
public sealed record HybridWeights(double Capability = 1, double Cost = 1, double Latency = 1);

/// <summary>
/// A weighted combination: every hard constraint of the other three policies applies (capability, budget, latency
/// limit), and among the models left the lowest of
/// capability x (size above what the task needs, in classes / 5) + cost x (price / highest price considered)
/// + latency x (estimated first token / the class's limit) wins.
/// </summary>
public sealed class HybridPolicy(
    ModelCatalog catalog,
    IModelAvailability availability,
    HybridWeights? weights = null,
    LatencyLimits? limits = null) : IRoutingPolicy
{
    private readonly HybridWeights weights = weights ?? new HybridWeights();
    private readonly LatencyLimits limits = limits ?? LatencyLimits.Default;

    public string Name => "hybrid";

    public PolicyDecision Choose(RoutingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var verdicts = new List<CandidateVerdict>();
        var admitted = new List<(CatalogModel Model, double Cost, TimeSpan Ttft)>();
        foreach (var model in catalog.Models)
        {
            var problem = PolicyChecks.CapabilityProblem(catalog, model, request);
            var cost = PolicyChecks.Cost(model, request);
            problem ??= PolicyChecks.BudgetProblem(cost, request);
            var ttft = problem is null ? availability.EstimateTimeToFirstToken(model.Name) : TimeSpan.Zero;
            problem ??= PolicyChecks.LatencyProblem(model, request, ttft, limits);
            if (problem is not null)
            {
                verdicts.Add(new CandidateVerdict(model.Name, false, problem));
            }
            else
            {
                admitted.Add((model, cost, ttft));
            }
        }

        var maxCost = admitted.Count == 0 ? 0 : admitted.Max(a => a.Cost);
        var required = catalog.RequiredSize(request.TaskType);
        var limit = limits.For(request.Class).TotalMilliseconds;
        string? best = null;
        var bestScore = double.MaxValue;
        var bestSize = SizeClass.Huge;
        foreach (var (model, cost, ttft) in admitted)
        {
            var oversize = ((int)model.Size - (int)required) / 5.0;
            var price = maxCost > 0 ? cost / maxCost : 0;
            var wait = limit > 0 ? ttft.TotalMilliseconds / limit : 0;
            var score = (weights.Capability * oversize) + (weights.Cost * price) + (weights.Latency * wait);
            verdicts.Add(new CandidateVerdict(
                model.Name,
                true,
                string.Create(CultureInfo.InvariantCulture, $"score {score:0.###} = {weights.Capability:0.##} x oversize {oversize:0.###} + {weights.Cost:0.##} x price {price:0.###} + {weights.Latency:0.##} x wait {wait:0.###}"),
                score));
            if (score < bestScore || (score == bestScore && model.Size < bestSize))
            {
                bestScore = score;
                best = model.Name;
                bestSize = model.Size;
            }
        }

        return new PolicyDecision(Name, best, verdicts);
    }
}
