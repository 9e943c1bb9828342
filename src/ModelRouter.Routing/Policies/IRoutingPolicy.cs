namespace ModelRouter.Routing.Policies;

/// <summary>Chooses the model for a request from a catalog, explaining every candidate's fate.</summary>
public interface IRoutingPolicy
{
    string Name { get; }

    PolicyDecision Choose(RoutingRequest request);
}
