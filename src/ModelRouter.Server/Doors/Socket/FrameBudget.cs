namespace ModelRouter.Server.Doors.Socket;

/// <summary>
/// The bytes every socket connection together may hold for frames they have only partly received
/// (<c>Limits:MaxBufferedFrameBytes</c>). A connection that has read the header of a frame larger than its own read
/// buffer reserves the whole frame here before it reads on; when the budget is spent it stops reading (the kernel's
/// socket buffer and TCP flow control hold the sender back) until another connection completes or drops its frame.
/// So a flood of half-sent frames holds at most this many bytes, and the slow senders holding them are closed by the
/// minimum frame rate, which returns their reservations.
/// </summary>
public sealed class FrameBudget
{
    private readonly Lock gate = new();
    private long reserved;
    private TaskCompletionSource? released;

    public FrameBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    public long Capacity { get; }

    /// <summary>Bytes reserved now (for tests and stats).</summary>
    public long Reserved => Interlocked.Read(ref reserved);

    /// <summary>Takes <paramref name="bytes"/> if they fit; never exceeds <see cref="Capacity"/>.</summary>
    public bool TryReserve(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        while (true)
        {
            var current = Interlocked.Read(ref reserved);
            if (current + bytes > Capacity)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref reserved, current + bytes, current) == current)
            {
                return true;
            }
        }
    }

    public void Release(long bytes)
    {
        if (bytes <= 0)
        {
            return;
        }

        Interlocked.Add(ref reserved, -bytes);
        TaskCompletionSource? waiters;
        lock (gate)
        {
            waiters = released;
            released = null;
        }

        waiters?.TrySetResult();
    }

    /// <summary>
    /// Waits until <paramref name="bytes"/> are reserved. Allocates only when it has to wait (the budget is spent: a
    /// flood, not the hot path).
    /// </summary>
    public async ValueTask ReserveAsync(long bytes, CancellationToken cancellation)
    {
        while (!TryReserve(bytes))
        {
            Task signal;
            lock (gate)
            {
                released ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                signal = released.Task;
            }

            // A release between the failed try and taking the signal is not missed: try again before waiting.
            if (TryReserve(bytes))
            {
                return;
            }

            await signal.WaitAsync(cancellation).ConfigureAwait(false);
        }
    }
}
