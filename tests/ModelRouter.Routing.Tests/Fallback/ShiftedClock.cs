using System.Collections.Concurrent;

namespace ModelRouter.Routing.Tests.Fallback;

/// <summary>
/// The system clock, movable forward, that remembers every timer it was asked for. Moving it lets a circuit breaker's
/// cooldown pass without sleeping (Polly reads the break's end from <see cref="GetUtcNow"/>), while timers stay real so
/// timeouts and retry delays still fire; the timers it was asked for show which delays were chosen, with no stopwatch.
/// (Microsoft.Extensions.TimeProvider.Testing is not a dependency of this project.)
/// </summary>
internal sealed class ShiftedClock : TimeProvider
{
    private readonly ConcurrentQueue<TimeSpan> dueTimes = new();
    private long shiftTicks;

    public IReadOnlyList<TimeSpan> TimerDueTimes => dueTimes.ToArray();

    public void Advance(TimeSpan by) => Interlocked.Add(ref shiftTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref shiftTicks));

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        dueTimes.Enqueue(dueTime);
        return base.CreateTimer(callback, state, dueTime, period);
    }
}
