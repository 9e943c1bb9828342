namespace ModelRouter.Routing.Fallback;

/// <summary>One try of one member: which, whether it answered, and what happened (for logs and explanations).</summary>
public sealed record ChainAttempt(string Member, bool Succeeded, string Outcome);
