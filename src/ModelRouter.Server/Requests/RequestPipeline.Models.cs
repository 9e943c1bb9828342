using System.Diagnostics;
using System.Text;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>Embeddings, the model list, the stats and the admin operations.</summary>
public sealed partial class RequestPipeline
{
    /// <summary>
    /// Embeds the inputs with one model as scheduled work: it waits for the model to be resident, counts against the
    /// in-flight limit, and shares decodes with other inputs.
    /// </summary>
    /// <exception cref="RequestException">Refused (limits, unknown model, draining) or failed (a bad input, the model unavailable).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public async Task<EmbeddingVectors> EmbedAsync(EmbeddingCommand command, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(command);
        var model = string.IsNullOrEmpty(command.Model) ? DefaultEmbeddingModel : command.Model;
        if (command.Inputs.Count == 0 || command.Inputs.Count > Options.Limits.MaxEmbeddingInputs)
        {
            throw Refused(RequestError.InvalidArgument, $"an embeddings request takes 1..{Options.Limits.MaxEmbeddingInputs} inputs; this one has {command.Inputs.Count}");
        }

        for (var i = 0; i < command.Inputs.Count; i++)
        {
            if (string.IsNullOrEmpty(command.Inputs[i]))
            {
                throw Refused(RequestError.InvalidArgument, $"input {i} is empty");
            }

            var bytes = Encoding.UTF8.GetByteCount(command.Inputs[i]);
            if (bytes > Options.Limits.MaxPromptBytes)
            {
                throw Refused(RequestError.PromptTooLong, $"input {i} is {bytes} bytes; the limit is {Options.Limits.MaxPromptBytes}");
            }
        }

        try
        {
            CheckModel(model);
            EnterInFlight();
        }
        catch (RequestException)
        {
            Interlocked.Increment(ref errorsTotal);
            throw;
        }

        var failed = true;
        var work = new EmbeddingRequest(NextRequestId(), model, command.Inputs, command.Normalize, cancellation);
        Track(work.Id, work);
        try
        {
            if (!Scheduler.TrySubmit(work, out var error, out var message))
            {
                throw new RequestException(error, message);
            }

            var vectors = await work.Completion.Task.WaitAsync(cancellation).ConfigureAwait(false);
            failed = false;
            return vectors;
        }
        finally
        {
            Untrack(work.Id);
            LeaveInFlight(0, failed);
            Finished();
        }
    }

    private RequestException Refused(RequestError error, string message)
    {
        Interlocked.Increment(ref errorsTotal);
        return new RequestException(error, message);
    }

    /// <summary>Every catalog model: where its weights are, what it does, its load.</summary>
    public IReadOnlyList<ModelView> ListModels()
    {
        var load = service.Scheduler?.Load();
        return Pool.Snapshot().Select(s =>
        {
            var entry = Catalog[s.Name];
            var (waiting, active) = load is not null && load.TryGetValue(s.Name, out var l) ? l : (0, 0);
            return new ModelView(s.Name, TierOf(s), StateOf(s), entry.LatencyClass,
                s.Pinned, s.WeightBytes, entry.CostPer1kTokens, active, waiting, entry.Capabilities);
        }).ToList();
    }

    public ServerStatsView Stats()
    {
        var load = service.Scheduler?.Load() ?? new Dictionary<string, (int Waiting, int Active)>();
        var snapshot = Pool.Snapshot();
        return new ServerStatsView(
            Stopwatch.GetElapsedTime(StartTimestamp),
            Volatile.Read(ref connections),
            load.Values.Sum(l => l.Active),
            load.Values.Sum(l => l.Waiting),
            snapshot.Count(s => s.State == ModelState.Resident),
            Interlocked.Read(ref requestsTotal),
            Interlocked.Read(ref tokensGenerated),
            snapshot.Sum(s => (long)s.Restores),
            Interlocked.Read(ref errorsTotal),
            Pool.ResidentBytes,
            Pool.BudgetBytes,
            forwarder?.NodesInView ?? 0);
    }

    /// <summary>Preload, pin, unpin or evict one model (admins only).</summary>
    /// <exception cref="RequestException">Not an admin, an unknown model, or the model could not be loaded.</exception>
    public async Task<AdminOutcome> AdminAsync(RequestCaller caller, AdminAction action, string model, CancellationToken cancellation)
    {
        if (!caller.IsAdmin)
        {
            throw new RequestException(RequestError.AdminRequired, "admin operations need the admin token");
        }

        CheckModel(model);
        var start = Stopwatch.GetTimestamp();
        var message = "done";
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellation, stopping);
            switch (action)
            {
                case AdminAction.Preload:
                    (await Pool.AcquireAsync(model, linked.Token).ConfigureAwait(false)).Dispose();
                    break;
                case AdminAction.Pin:
                    Pool.Pin(model);
                    break;
                case AdminAction.Unpin:
                    Pool.Unpin(model);
                    break;
                case AdminAction.Evict:
                    message = await Pool.TryEvictAsync(model, linked.Token).ConfigureAwait(false) ? "evicted" : "not evicted: pinned or decodes in flight";
                    break;
                default:
                    throw new RequestException(RequestError.InvalidArgument, $"unknown admin operation {action}");
            }
        }
        catch (ModelUnavailableException ex)
        {
            throw new RequestException(RequestError.ModelUnavailable, ex.Message);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw new RequestException(RequestError.ShuttingDown, "the server is shutting down");
        }

        Pool.TryGetStatus(model, out var status);
        return new AdminOutcome(action, model, TierOf(status), StateOf(status), Stopwatch.GetElapsedTime(start), message);
    }
}
