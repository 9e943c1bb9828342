namespace ModelRouter.Protocol;

/// <summary>Result of an admin operation (admin-result frame).</summary>
public sealed class AdminResult
{
    public AdminOperation Operation { get; init; }

    public required string Model { get; init; }

    /// <summary>The model's tier after the operation.</summary>
    public ModelTier Tier { get; init; }

    /// <summary>The model's state after the operation.</summary>
    public ModelState State { get; init; }

    public long ElapsedNanos { get; init; }

    public string Message { get; init; } = "";

    public TimeSpan Elapsed => Durations.FromNanos(ElapsedNanos);
}
