namespace ModelRouter.Routing.Policies;

/// <summary>Longest acceptable time to first token per request class.</summary>
public sealed record LatencyLimits
{
    public TimeSpan RealTime { get; init; } = TimeSpan.FromMilliseconds(300);

    public TimeSpan Interactive { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan Batch { get; init; } = TimeSpan.FromMinutes(5);

    public static LatencyLimits Default { get; } = new();

    public TimeSpan For(LatencyClass requestClass) => requestClass switch
    {
        LatencyClass.RealTime => RealTime,
        LatencyClass.Interactive => Interactive,
        _ => Batch,
    };
}
