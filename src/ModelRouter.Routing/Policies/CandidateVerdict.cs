namespace ModelRouter.Routing.Policies;

/// <summary>How a policy judged one catalog model: accepted with a score (lower is better), or rejected and why.</summary>
public sealed record CandidateVerdict(string Model, bool Accepted, string Reason, double Score = 0);
