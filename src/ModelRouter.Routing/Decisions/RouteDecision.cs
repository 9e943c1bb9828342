namespace ModelRouter.Routing.Decisions;

/// <summary>
/// The route chosen for a prompt. <see cref="Unsure"/> is true when the classifier's calibrated confidence was below
/// the route's threshold; <see cref="ClassifierRoute"/> is then what the classifier would have said.
/// </summary>
public readonly record struct RouteDecision(int Route, float Confidence, bool Unsure, DecisionSource Source, int ClassifierRoute);
