namespace ModelRouter.Protocol;

/// <summary>
/// What generate and chat requests share: the model (or none, to let the router choose with the hints), sampling and
/// stop sequences. On the wire both frames start with the same 32 fixed bytes, model and capability (see
/// <see cref="GeneratePayload"/>).
/// </summary>
public abstract class GenerationOptions
{
    /// <summary>The model to use; null or empty means "route for me".</summary>
    public string? Model { get; init; }

    /// <summary>Tokens to generate at most; 0 means the server's default.</summary>
    public int MaxTokens { get; init; }

    /// <summary>Sampling temperature, finite and ≥ 0; 0 is greedy.</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Nucleus sampling in [0, 1]; 0 or 1 means off.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Top-k sampling; 0 means off.</summary>
    public int TopK { get; init; }

    /// <summary>Sampler seed; 0 lets the server choose.</summary>
    public ulong Seed { get; init; }

    /// <summary>Routing hint: latency class.</summary>
    public LatencyClass LatencyClass { get; init; }

    /// <summary>Routing hint: the most the request may cost, in the catalog's cost units; 0 means no budget.</summary>
    public float CostBudget { get; init; }

    /// <summary>Routing hint: a capability the chosen model must have (e.g. "code"); null or empty for none.</summary>
    public string? RequiredCapability { get; init; }

    /// <summary>Generation stops when one of these is produced (not included in the output).</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    /// <summary>A constraint on the output; <see cref="OutputFormat.Text"/> (the default) for none.</summary>
    public OutputFormat OutputFormat { get; init; }

    /// <summary>The JSON Schema (<see cref="OutputFormat.JsonSchema"/>) or GBNF grammar (<see cref="OutputFormat.Grammar"/>); else unused.</summary>
    public string? OutputSpec { get; init; }

    /// <summary>
    /// Set by a cluster node that forwards a request it routed (byte 31, <see cref="ProtocolConstants.RequestFlagForwarded"/>):
    /// the receiver serves it itself. Clients leave it unset.
    /// </summary>
    public bool Forwarded { get; init; }
}
