namespace ModelRouter.Routing.Evaluation;

/// <summary>Per-decision latency and allocation of the classifier on one thread.</summary>
public sealed record LatencyReport(
    int Decisions,
    int Prompts,
    double MeanPromptTokens,
    double P50Nanoseconds,
    double P90Nanoseconds,
    double P99Nanoseconds,
    double MeanNanoseconds,
    double BytesAllocatedPerDecision);
