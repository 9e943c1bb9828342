using System.Collections.Concurrent;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>An accepted request the pipeline can end at the shutdown deadline (ending twice is harmless).</summary>
internal interface ILiveRequest
{
    void Fail(RequestError failure, string message);
}

/// <summary>
/// Graceful stop, shared by both doors: refuse new work, let what was accepted finish until the shutdown deadline,
/// then end what is left with <see cref="RequestError.ShuttingDown"/>, so no request ever ends in silence.
/// </summary>
public sealed partial class RequestPipeline
{
    // How long the cut-off waits for the model workers to end their own requests (on their threads, in order with
    // the text they streamed) before the pipeline ends the stragglers itself.
    private static readonly TimeSpan CutOffGrace = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<ulong, ILiveRequest> live = new();
    private readonly TaskCompletionSource idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource cutOff = new();
    private readonly Lock drainLock = new();
    private CancellationTokenSource? drainDeadline;
    private Task? cutOffTask;
    private int draining;

    // Accepted requests whose end has not been handed to their door yet (in-flight slots are freed a little earlier).
    private int unfinished;

    /// <summary>Cancelled at the shutdown deadline: work that is still running must end with a shutting-down error.</summary>
    internal CancellationToken CutOffToken => cutOff.Token;

    /// <summary>Requests that were still unfinished at the shutdown deadline and were ended with a shutting-down error.</summary>
    public int CutOffRequests { get; private set; }

    /// <summary>
    /// Stops taking requests and returns once every request accepted by either door has delivered its terminal
    /// result. At the deadline (ShutdownTimeoutSeconds after the first call, or <paramref name="deadline"/> if it
    /// fires first) what is left is ended with <see cref="RequestError.ShuttingDown"/> and counted in the
    /// <see cref="ShutdownReport"/>. Safe to call from several doors at once and more than once.
    /// </summary>
    public async Task DrainAsync(CancellationToken deadline)
    {
        CancellationToken own;
        lock (drainLock)
        {
            if (drainDeadline is null)
            {
                Interlocked.Exchange(ref draining, 1); // a full fence: EnterInFlight sees it, or we see its slot
                drainDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(Options.ShutdownTimeoutSeconds));
                ServerLog.DrainStarted(Logger, RequestsInFlight, Options.ShutdownTimeoutSeconds);
            }

            own = drainDeadline.Token;
        }

        if (Volatile.Read(ref unfinished) == 0)
        {
            idle.TrySetResult();
        }

        using var either = CancellationTokenSource.CreateLinkedTokenSource(deadline, own);
        try
        {
            await idle.Task.WaitAsync(either.Token).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException)
        {
            // the deadline: cut off what is left
        }

        Task task;
        lock (drainLock)
        {
            task = cutOffTask ??= CutOffAsync();
        }

        await task.ConfigureAwait(false);
    }

    private async Task CutOffAsync()
    {
        var left = live.Count;
        CutOffRequests = left;
        report.RecordCutOff(left);
        ServerLog.DrainCutOff(Logger, left);
        await cutOff.CancelAsync().ConfigureAwait(false); // remote relays end themselves with the shutting-down error

        // The workers end the requests they hold (queued and decoding) with a shutting-down error, each on its own thread.
        if (service.Scheduler is { } scheduler)
        {
            await scheduler.DrainAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        }

        try
        {
            await idle.Task.WaitAsync(CutOffGrace).ConfigureAwait(false);
            return;
        }
        catch (TimeoutException)
        {
            // Last resort: something holds a request past the workers' stop (a stuck upstream read): end it from here.
        }

        foreach (var request in live.Values)
        {
            request.Fail(RequestError.ShuttingDown, "the server is shutting down: the request did not finish before the shutdown deadline");
        }
    }

    /// <summary>Remembers an accepted request until it ends, so that the shutdown deadline can end it.</summary>
    internal void Track(ulong id, ILiveRequest request) => live[id] = request;

    internal void Untrack(ulong id) => live.TryRemove(id, out _);

    /// <summary>
    /// Takes a server-wide in-flight slot, or refuses: draining, or at the limit (with a retry hint). Every call that
    /// returns must be followed by <see cref="LeaveInFlight"/> and then, once the door has its result, <see cref="Finished"/>.
    /// </summary>
    private void EnterInFlight()
    {
        // Count first, then look at the flag: with DrainAsync's fence, a request either sees the drain or is waited for.
        Interlocked.Increment(ref unfinished);
        var count = Interlocked.Increment(ref inFlight);
        if (Volatile.Read(ref draining) != 0 || stopping.IsCancellationRequested)
        {
            Interlocked.Decrement(ref inFlight);
            Finished();
            throw new RequestException(RequestError.ShuttingDown, "the server is shutting down");
        }

        if (count > Options.Limits.MaxRequestsInFlight)
        {
            Interlocked.Decrement(ref inFlight);
            Finished();
            throw new RequestException(RequestError.Overloaded, $"the server has {Options.Limits.MaxRequestsInFlight} requests in flight", TimeSpan.FromSeconds(1));
        }

        Interlocked.Increment(ref requestsTotal);
    }

    /// <summary>Frees the request's in-flight slot (before its end is delivered, so a client that sees it can send the next one).</summary>
    internal void LeaveInFlight(int tokens, bool failed)
    {
        Interlocked.Add(ref tokensGenerated, tokens);
        if (failed)
        {
            Interlocked.Increment(ref errorsTotal);
        }

        Interlocked.Decrement(ref inFlight);
    }

    /// <summary>The request's end has been handed to its door: a drain may now close the doors without losing it.</summary>
    internal void Finished()
    {
        if (Interlocked.Decrement(ref unfinished) == 0 && Volatile.Read(ref draining) != 0)
        {
            idle.TrySetResult();
        }
    }
}
