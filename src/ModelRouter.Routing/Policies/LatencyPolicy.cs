using System.Globalization;

namespace ModelRouter.Routing.Policies;

/// <summary>
/// The capable model with the soonest estimated first token, read from the pool (queue wait and any swap-in
/// included), within the request class's limit; ties go to the smaller model.
/// </summary>
public sealed class LatencyPolicy(ModelCatalog catalog, IModelAvailability availability, LatencyLimits? limits = null) : IRoutingPolicy
{
    private readonly LatencyLimits limits = limits ?? LatencyLimits.Default;

    public string Name => "latency";

    public PolicyDecision Choose(RoutingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var verdicts = new List<CandidateVerdict>();
        (CatalogModel Model, TimeSpan Ttft)? best = null;
        foreach (var model in catalog.Models)
        {
            var problem = PolicyChecks.CapabilityProblem(catalog, model, request);
            var ttft = problem is null ? availability.EstimateTimeToFirstToken(model.Name) : TimeSpan.Zero;
            problem ??= PolicyChecks.LatencyProblem(model, request, ttft, limits);
            if (problem is not null)
            {
                verdicts.Add(new CandidateVerdict(model.Name, false, problem));
                continue;
            }

            verdicts.Add(new CandidateVerdict(model.Name, true, string.Create(CultureInfo.InvariantCulture, $"first token in ~{ttft.TotalMilliseconds:0} ms"), ttft.TotalMilliseconds));
            if (best is null || ttft < best.Value.Ttft || (ttft == best.Value.Ttft && model.Size < best.Value.Model.Size))
            {
                best = (model, ttft);
            }
        }

        return new PolicyDecision(Name, best?.Model.Name, verdicts);
    }
}
