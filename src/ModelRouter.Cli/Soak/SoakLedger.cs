using System.Collections.Concurrent;
using System.Globalization;

namespace ModelRouter.Cli.Soak;

/// <summary>How one request of the soak ended. Every request gets exactly one.</summary>
internal enum SoakOutcome
{
    /// <summary>The answer arrived whole (done frame, a result, a JSON answer, an SSE stream to its finish reason).</summary>
    Done,

    /// <summary>A typed error: an error frame, an HTTP status with an OpenAI-shaped error body, an SSE error event.</summary>
    Error,

    /// <summary>The soak cancelled it on purpose and the request ended (the expected end of a cancel).</summary>
    Cancelled,

    /// <summary>The soak closed the connection on purpose (the expected end of a disconnect).</summary>
    Disconnected,

    /// <summary>The server closed the connection, as the protocol says it must for a fatal bad frame or a stalled sender.</summary>
    Closed,

    /// <summary>Accepted, then ended with neither an answer nor an error: the connection dropped under it, a stream stopped short.</summary>
    Lost,
}

/// <summary>
/// The soak's accounting: every request it sends is opened here and must be closed with exactly one
/// <see cref="SoakOutcome"/>. Requests still open after the grace period at the end are hung. Counts are kept per kind
/// (e.g. "socket.stream", "http.embed", "raw.bad-magic") so that each interval's line and the summary can show them.
/// </summary>
internal sealed class SoakLedger
{
    private readonly ConcurrentDictionary<long, SoakTicket> open = new();
    private readonly ConcurrentDictionary<string, KindCounts> kinds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> offSpec = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> errorCodes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> lostDetails = new();
    private long nextId;

    /// <summary>Requests still without an outcome.</summary>
    public int OpenCount => open.Count;

    /// <summary>Opens a request of the given kind; close it with <see cref="SoakTicket.Close"/>.</summary>
    public SoakTicket Open(string kind)
    {
        var ticket = new SoakTicket(this, Interlocked.Increment(ref nextId), kind, Environment.TickCount64);
        open[ticket.Id] = ticket;
        Interlocked.Increment(ref Counts(kind).Sent);
        return ticket;
    }

    /// <summary>An answer that was not what docs/protocol.md says (the request still ended): counted and named, not a loss.</summary>
    public void OffSpec(string what) => offSpec.AddOrUpdate(what, 1, static (_, n) => n + 1);

    internal void Closed(SoakTicket ticket, SoakOutcome outcome, string? detail)
    {
        if (!open.TryRemove(ticket.Id, out _))
        {
            return;
        }

        var counts = Counts(ticket.Kind);
        switch (outcome)
        {
            case SoakOutcome.Done: Interlocked.Increment(ref counts.Done); break;
            case SoakOutcome.Error:
                Interlocked.Increment(ref counts.Errors);
                errorCodes.AddOrUpdate($"{ticket.Kind} {detail ?? "?"}", 1, static (_, n) => n + 1);
                break;
            case SoakOutcome.Cancelled: Interlocked.Increment(ref counts.Cancelled); break;
            case SoakOutcome.Disconnected: Interlocked.Increment(ref counts.Disconnected); break;
            case SoakOutcome.Closed: Interlocked.Increment(ref counts.ClosedByServer); break;
            default:
                Interlocked.Increment(ref counts.Lost);
                if (lostDetails.Count < 50)
                {
                    lostDetails.Enqueue($"{ticket.Kind}: {detail}");
                }

                break;
        }
    }

    /// <summary>Requests open now, oldest first, with their age: what is reported as hung at the end.</summary>
    public IReadOnlyList<(string Kind, TimeSpan Age)> OpenRequests()
    {
        var now = Environment.TickCount64;
        return open.Values.OrderBy(t => t.StartedAt).Select(t => (t.Kind, TimeSpan.FromMilliseconds(now - t.StartedAt))).ToList();
    }

    public IReadOnlyDictionary<string, KindCounts> Kinds => kinds;

    public IReadOnlyDictionary<string, int> OffSpecAnswers => offSpec;

    public IReadOnlyDictionary<string, int> ErrorCodes => errorCodes;

    public IReadOnlyCollection<string> LostDetails => lostDetails;

    public long Total(Func<KindCounts, long> field) => kinds.Values.Sum(field);

    private KindCounts Counts(string kind) => kinds.GetOrAdd(kind, static _ => new KindCounts());
}

/// <summary>Running counts of one kind of request.</summary>
internal sealed class KindCounts
{
    public long Sent;
    public long Done;
    public long Errors;
    public long Cancelled;
    public long Disconnected;
    public long ClosedByServer;
    public long Lost;

    public long Ended => Volatile.Read(ref Done) + Volatile.Read(ref Errors) + Volatile.Read(ref Cancelled) +
        Volatile.Read(ref Disconnected) + Volatile.Read(ref ClosedByServer) + Volatile.Read(ref Lost);

#pragma warning disable CA1822 // an instance method keeps call sites uniform (Interlocked.Increment(ref counts.Done))
    public void Add(ref long field) => Interlocked.Increment(ref field);
#pragma warning restore CA1822

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"sent {Sent}, done {Done}, errors {Errors}, cancelled {Cancelled}, disconnected {Disconnected}, closed {ClosedByServer}, lost {Lost}");
}

/// <summary>One request in the ledger; closing it twice keeps the first outcome.</summary>
internal sealed class SoakTicket
{
    private readonly SoakLedger ledger;
    private int closed;

    internal SoakTicket(SoakLedger ledger, long id, string kind, long startedAt)
    {
        this.ledger = ledger;
        Id = id;
        Kind = kind;
        StartedAt = startedAt;
    }

    public long Id { get; }

    public string Kind { get; }

    public long StartedAt { get; }

    public bool IsClosed => Volatile.Read(ref closed) != 0;

    public void Close(SoakOutcome outcome, string? detail = null)
    {
        if (Interlocked.Exchange(ref closed, 1) == 0)
        {
            ledger.Closed(this, outcome, detail);
        }
    }
}
