using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using ModelRouter.Protocol;
using ModelRouter.Routing.Fallback;
using ModelRouter.Runtime.Embeddings;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Swap;
using PoolState = ModelRouter.Runtime.Swap.ModelState;
using PoolTier = ModelRouter.Runtime.Swap.ModelTier;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Connections;

/// <summary>Request dispatch: generate, route, embed, cancel, listings, stats and admin operations.</summary>
public sealed partial class ClientConnection
{
    private readonly ConcurrentDictionary<uint, string> taskTypes = new();

    private bool DispatchRequest(in Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Generate:
                StartGenerate(frame);
                return true;
            case FrameType.Cancel:
                if (inFlight.TryGetValue(frame.RequestId, out var request))
                {
                    request.Cancel();
                }

                return true;
            case FrameType.Route:
                Route(frame);
                return true;
            case FrameType.Embed:
                StartEmbed(frame);
                return true;
            case FrameType.ListModels:
                ListModels(frame.RequestId);
                return true;
            case FrameType.GetStats:
                Stats(frame.RequestId);
                return true;
            case FrameType.Admin:
                StartAdmin(frame);
                return true;
            case FrameType.Ping:
                using (var payload = frame.LeasePayload())
                {
                    var value = MessageReader.ReadPing(payload.Span);
                    Send((Id: frame.RequestId, Value: value), static (writer, s) => FrameWriter.WritePong(writer, s.Id, s.Value));
                }

                return true;
            case FrameType.Pong:
                return true;
            case FrameType.Hello:
                WriteError(0, ErrorCode.UnexpectedFrame, "hello was already received");
                return false;
            default:
                WriteError(frame.RequestId, FrameTypes.IsDefined(frame.Type) ? ErrorCode.UnexpectedFrame : ErrorCode.UnknownFrameType,
                    $"frame type 0x{(byte)frame.Type:x2} is not accepted from a client");
                return true;
        }
    }

    private void StartGenerate(in Frame frame)
    {
        var id = frame.RequestId;
        GenerateRequest request;
        using (var payload = frame.LeasePayload())
        {
            request = MessageReader.ReadGenerate(payload.Span, server.Limits).ToRequest();
        }

        if (!TryBeginRequest(id, out var cancellation))
        {
            return;
        }

        var routeTime = TimeSpan.Zero;
        var model = request.Model;
        FallbackChain? chain = null;
        if (model is null)
        {
            try
            {
                var decision = server.Router.Route(request.Prompt, Hints(request.LatencyClass, request.CostBudget, request.RequiredCapability));
                model = decision.Model;
                routeTime = decision.Elapsed;
                taskTypes[id] = decision.Task;
                server.Metrics.RecordRoute(routeTime);

                // An unsure decision serves the default model alone: the task's remotes were configured for the task.
                chain = !decision.Unsure && server.Chains.TryGet(decision.Task, out var routeChain) ? routeChain : null;
            }
            catch (ArgumentException ex)
            {
                OnFailed(id, RequestError.InvalidArgument, ex.Message);
                return;
            }
        }

        var generation = new GenerationRequest(request.Prompt)
        {
            MaxTokens = request.MaxTokens > 0 ? request.MaxTokens : Math.Min(256, server.Limits.MaxTokens),
            StopStrings = request.StopSequences,
            Sampling = new SamplingParameters
            {
                Temperature = request.Temperature,
                TopK = request.TopK,
                TopP = request.TopP is > 0 and <= 1 ? request.TopP : 1f,
                Seed = request.Seed == 0 ? (uint)Random.Shared.Next() : (uint)request.Seed,
            },
        };
        if (chain is not null)
        {
            RunChain(id, chain, new ChatRequest(request.Prompt)
            {
                MaxTokens = generation.MaxTokens,
                Temperature = request.Temperature,
                LocalContext = new LocalGeneration(id, model, generation, routeTime),
            }, cancellation);
            return;
        }

        var inference = new InferenceRequest(id, model, generation, this, cancellation) { RouteTime = routeTime };
        if (!server.Scheduler.TrySubmit(inference, out var failure, out var message))
        {
            OnFailed(id, failure, message);
        }
    }

    private void Route(in Frame frame)
    {
        RouteRequest request;
        using (var payload = frame.LeasePayload())
        {
            request = MessageReader.ReadRoute(payload.Span, server.Limits).ToRequest();
        }

        try
        {
            var decision = server.Router.Route(request.Prompt, Hints(request.LatencyClass, request.CostBudget, request.RequiredCapability));
            server.Metrics.RecordRoute(decision.Elapsed);
            server.Pool.TryGetStatus(decision.Model, out var status);
            var id = frame.RequestId;
            Send(0, (writer, _) => FrameWriter.WriteRouteResult(writer, id, new RouteDecision
                {
                    Model = decision.Model,
                    TaskType = decision.Task,
                    Confidence = decision.Confidence,
                    Reason = decision.Explain(),
                    Tier = WireTier(status),
                    RouteNanos = Durations.ToNanos(decision.Elapsed),
                    Fallbacks = decision.Considered.Where(m => m != decision.Model).ToList(),
                }));
        }
        catch (ArgumentException ex)
        {
            WriteError(frame.RequestId, ErrorCode.NoRouteMatched, ex.Message);
        }
    }

    private void StartEmbed(in Frame frame)
    {
        var id = frame.RequestId;
        EmbedRequest request;
        using (var payload = frame.LeasePayload())
        {
            request = MessageReader.ReadEmbed(payload.Span, server.Limits).ToRequest();
        }

        // No model named: the server's default model embeds (docs/protocol.md).
        var modelName = string.IsNullOrEmpty(request.Model) ? server.Options.DefaultModel ?? server.Options.Models[0].Name : request.Model;
        if (!server.Catalog.ContainsKey(modelName))
        {
            WriteError(id, ErrorCode.UnknownModel, $"no model named '{modelName}'");
            return;
        }

        if (!TryBeginRequest(id, out var cancellation))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                using var lease = await server.Pool.AcquireAsync(modelName, cancellation).ConfigureAwait(false);
                using var embedder = TextEmbedder.Create(lease.Model, maxTokens: 512, threads: server.Options.Scheduler.Threads);
                var vector = new float[embedder.Dimensions];
                embedder.Embed(request.Text, vector);
                Send(0, (writer, _) => FrameWriter.WriteEmbedResult(writer, id, modelName, vector, 0));

                EndRequest(id);
            }
            catch (Exception ex) when (ex is ModelUnavailableException or ArgumentException or OperationCanceledException or Runtime.Inference.InferenceException)
            {
                OnFailed(id, ex switch
                {
                    ModelUnavailableException => RequestError.ModelUnavailable,
                    ArgumentException => RequestError.InvalidArgument,
                    OperationCanceledException => RequestError.Cancelled,
                    _ => RequestError.Internal,
                }, ex.Message);
            }
        }, CancellationToken.None);
    }

    private void ListModels(uint id)
    {
        var load = server.Scheduler.Load();
        var models = server.Pool.Snapshot().Select(s =>
        {
            var entry = server.Catalog[s.Name];
            var (waiting, active) = load.TryGetValue(s.Name, out var l) ? l : (0, 0);
            return new ModelInfo
            {
                Name = s.Name,
                Tier = WireTier(s),
                State = s.State switch
                {
                    PoolState.Resident => Protocol.ModelState.Ready,
                    PoolState.Restoring => Protocol.ModelState.SwappingIn,
                    PoolState.Evicting => Protocol.ModelState.SwappingOut,
                    PoolState.Failed => Protocol.ModelState.Failed,
                    _ => Protocol.ModelState.Unloaded,
                },
                LatencyClass = ParseLatency(entry.LatencyClass),
                Flags = s.Pinned ? ModelFlags.Pinned : ModelFlags.None,
                WeightBytes = s.WeightBytes,
                Cost = (float)entry.CostPer1kTokens,
                InFlight = active,
                Queued = waiting,
                Capabilities = entry.Capabilities,
            };
        }).ToList();
        Send(0, (writer, _) => FrameWriter.WriteModelList(writer, id, models));
    }

    private void Stats(uint id)
    {
        var load = server.Scheduler.Load();
        var snapshot = server.Pool.Snapshot();
        var stats = new ServerStats
        {
            UptimeNanos = Durations.NanosBetween(server.StartTimestamp, Stopwatch.GetTimestamp()),
            Connections = server.Connections,
            InFlight = load.Values.Sum(l => l.Active),
            Queued = load.Values.Sum(l => l.Waiting),
            ResidentModels = snapshot.Count(s => s.State == PoolState.Resident),
            RequestsTotal = server.RequestsTotal,
            TokensGenerated = server.TokensGenerated,
            SwapsTotal = snapshot.Sum(s => (long)s.Restores),
            ErrorsTotal = server.ErrorsTotal,
            GpuBytesUsed = server.Pool.ResidentBytes,
            GpuBytesTotal = server.Pool.BudgetBytes,
        };
        Send(0, (writer, _) => FrameWriter.WriteStats(writer, id, stats));
    }

    private void StartAdmin(in Frame frame)
    {
        var id = frame.RequestId;
        AdminOperation operation;
        string model;
        using (var payload = frame.LeasePayload())
        {
            var admin = MessageReader.ReadAdmin(payload.Span, server.Limits);
            operation = admin.Operation;
            model = Encoding.UTF8.GetString(admin.Model);
        }

        if (!isAdmin)
        {
            WriteError(id, ErrorCode.AdminRequired, "admin operations need the admin token");
            return;
        }

        if (!server.Catalog.ContainsKey(model))
        {
            WriteError(id, ErrorCode.UnknownModel, $"no model named '{model}'");
            return;
        }

        _ = Task.Run(async () =>
        {
            var start = Stopwatch.GetTimestamp();
            var message = "done";
            try
            {
                switch (operation)
                {
                    case AdminOperation.Preload:
                        (await server.Pool.AcquireAsync(model, server.Stopping).ConfigureAwait(false)).Dispose();
                        break;
                    case AdminOperation.Pin:
                        server.Pool.Pin(model);
                        break;
                    case AdminOperation.Unpin:
                        server.Pool.Unpin(model);
                        break;
                    case AdminOperation.Evict:
                        message = await server.Pool.TryEvictAsync(model, server.Stopping).ConfigureAwait(false) ? "evicted" : "not evicted: pinned or decodes in flight";
                        break;
                    default:
                        WriteError(id, ErrorCode.InvalidArgument, $"unknown admin operation {(byte)operation}");
                        return;
                }
            }
            catch (Exception ex) when (ex is ModelUnavailableException or OperationCanceledException)
            {
                WriteError(id, ErrorCode.ModelUnavailable, ex.Message);
                return;
            }

            server.Pool.TryGetStatus(model, out var status);
            Send(0, (writer, _) => FrameWriter.WriteAdminResult(writer, id, new AdminResult
                {
                    Operation = operation,
                    Model = model,
                    Tier = WireTier(status),
                    State = status?.State == PoolState.Resident ? Protocol.ModelState.Ready : Protocol.ModelState.Unloaded,
                    ElapsedNanos = Durations.NanosBetween(start, Stopwatch.GetTimestamp()),
                    Message = message,
                }));
        }, CancellationToken.None);
    }

    /// <summary>Registers a request id; false (with an error frame sent) for duplicates, too many in flight, or shutdown.</summary>
    private bool TryBeginRequest(uint id, out CancellationToken cancellation)
    {
        cancellation = default;
        if (server.Stopping.IsCancellationRequested)
        {
            WriteError(id, ErrorCode.ShuttingDown, "the server is shutting down");
            return false;
        }

        if (inFlight.Count >= server.Limits.MaxRequestsInFlight)
        {
            WriteError(id, ErrorCode.TooManyRequestsInFlight, $"at most {server.Limits.MaxRequestsInFlight} requests in flight per connection");
            return false;
        }

        var source = new CancellationTokenSource();
        if (!inFlight.TryAdd(id, source))
        {
            source.Dispose();
            WriteError(id, ErrorCode.DuplicateRequestId, $"request id {id} is already in flight");
            return false;
        }

        cancellation = source.Token;
        return true;
    }

    private void EndRequest(uint id)
    {
        if (inFlight.TryRemove(id, out var source))
        {
            source.Dispose();
        }
    }

    private static RouteHints Hints(LatencyClass latency, float costBudget, string? capability) => new()
    {
        LatencyClass = latency switch
        {
            LatencyClass.Realtime => "realtime",
            LatencyClass.Interactive => "interactive",
            LatencyClass.Batch => "batch",
            _ => null,
        },
        CostBudgetPer1kTokens = costBudget > 0 ? costBudget : null,
        RequiredCapability = capability,
    };

    private static LatencyClass ParseLatency(string value) => value.ToUpperInvariant() switch
    {
        "REALTIME" => LatencyClass.Realtime,
        "BATCH" => LatencyClass.Batch,
        _ => LatencyClass.Interactive,
    };

    private static Protocol.ModelTier WireTier(ModelStatus? status) => status?.Tier switch
    {
        PoolTier.Resident => Protocol.ModelTier.Gpu,
        PoolTier.Warm => Protocol.ModelTier.Host,
        PoolTier.Cold => Protocol.ModelTier.Disk,
        _ => Protocol.ModelTier.Unknown,
    };
}
