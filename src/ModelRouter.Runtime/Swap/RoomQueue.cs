namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The acquirers of a <see cref="ModelPool"/> that found no room, in the order they first found none. Each is either
/// asleep (waiting for a lease to end) or retrying (woken, or deferring, and queued for the pool's transitions). An
/// acquirer whose turn could take room yields it while an earlier one is retrying, so that room goes to waiters in
/// the order they joined however their turns interleave with lease releases. Without this, a waiter whose turn was
/// in progress when a lease ended took the room ahead of every earlier waiter the release had just woken.
/// </summary>
/// <remarks>
/// The pool holds <see cref="EnterScope"/> across "is anyone earlier retrying?" and making room, and a lease's end
/// wakes the sleepers under it before the lease's model counts as idle: so the room a release frees is seen either by
/// a turn that then defers to the woken, or not at all by a turn that began before it. The price: a lease that ends
/// while a turn evicts to make room waits for that eviction (page-table work on the CPU path, an unmap on CUDA) before
/// it returns. Making room waits on nothing a releasing thread holds (Release takes this lock before any other), so
/// the wait cannot close a cycle.
/// </remarks>
internal sealed class RoomQueue
{
    private readonly Lock gate = new();
    private readonly LinkedList<Waiter> waiters = new();
    private long wakes;

    /// <summary>Held by the pool while it decides whether a turn may take room and takes it.</summary>
    public Lock.Scope EnterScope() => gate.EnterScope();

    /// <summary>How many times leases' ends have woken the sleepers: read at the start of a turn, for <see cref="Sleep"/>.</summary>
    public long Wakes => Volatile.Read(ref wakes);

    /// <summary>Adds an acquirer at the back, retrying: it is about to queue for the transitions, or to sleep.</summary>
    public Waiter Join()
    {
        var waiter = new Waiter { Retrying = true };
        lock (gate)
        {
            waiter.Node = waiters.AddLast(waiter);
        }

        return waiter;
    }

    /// <summary>
    /// Marks the waiter asleep, unless a lease ended since <paramref name="wakesSeen"/> was read: the room that freed
    /// was not seen by the turn now ending, and the signal it is about to wait on has fired or will, so it stays
    /// retrying and later waiters keep deferring to it.
    /// </summary>
    public void Sleep(Waiter waiter, long wakesSeen)
    {
        lock (gate)
        {
            waiter.Retrying = wakes != wakesSeen;
        }
    }

    /// <summary>
    /// True while a waiter that joined before <paramref name="waiter"/> (before everyone, for null) is retrying.
    /// Call it inside <see cref="EnterScope"/>.
    /// </summary>
    public bool AnyRetryingBefore(Waiter? waiter)
    {
        for (var node = waiters.First; node is not null && node.Value != waiter; node = node.Next)
        {
            if (node.Value.Retrying)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Marks a woken waiter retrying: it queues for the transitions now.</summary>
    public void Woken(Waiter waiter)
    {
        lock (gate)
        {
            waiter.Retrying = true;
        }
    }

    /// <summary>Marks every sleeper retrying: called when a lease ends, before its model counts as idle.</summary>
    public void WakeSleepers()
    {
        lock (gate)
        {
            wakes++;
            for (var node = waiters.First; node is not null; node = node.Next)
            {
                node.Value.Retrying = true;
            }
        }
    }

    /// <summary>Removes the waiter (leased, failed or cancelled); idempotent.</summary>
    public void Leave(Waiter waiter)
    {
        lock (gate)
        {
            if (waiter.Node?.List is not null)
            {
                waiters.Remove(waiter.Node);
            }
        }
    }

    internal sealed class Waiter
    {
        public bool Retrying;
        public LinkedListNode<Waiter>? Node;
    }
}
