namespace ModelRouter.Server.Scheduling;

/// <summary>Timestamp arithmetic on a <see cref="TimeProvider"/>'s own frequency.</summary>
internal static class SchedulerTime
{
    /// <summary>The timestamp <paramref name="span"/> after <paramref name="timestamp"/>; saturates at <see cref="long.MaxValue"/>.</summary>
    public static long After(TimeProvider time, long timestamp, TimeSpan span)
    {
        if (span <= TimeSpan.Zero)
        {
            return timestamp;
        }

        var ticks = span.TotalSeconds * time.TimestampFrequency;
        return ticks >= long.MaxValue - (double)timestamp ? long.MaxValue : timestamp + (long)ticks;
    }
}
