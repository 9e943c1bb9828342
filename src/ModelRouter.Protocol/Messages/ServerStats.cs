namespace ModelRouter.Protocol;

/// <summary>Server-wide counters (stats frame). <see cref="Extra"/> carries named values a server adds later.</summary>
public sealed class ServerStats
{
    public long UptimeNanos { get; init; }

    public int Connections { get; init; }

    public int InFlight { get; init; }

    public int Queued { get; init; }

    public int ResidentModels { get; init; }

    public long RequestsTotal { get; init; }

    public long TokensGenerated { get; init; }

    public long SwapsTotal { get; init; }

    public long ErrorsTotal { get; init; }

    public long GpuBytesUsed { get; init; }

    public long GpuBytesTotal { get; init; }

    public long HostBytesUsed { get; init; }

    /// <summary>Share of time the GPU had nothing to do, in [0, 1].</summary>
    public float GpuIdleShare { get; init; }

    public IReadOnlyList<KeyValuePair<string, double>> Extra { get; init; } = [];

    public TimeSpan Uptime => Durations.FromNanos(UptimeNanos);
}
