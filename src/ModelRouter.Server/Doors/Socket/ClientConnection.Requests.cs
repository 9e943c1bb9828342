using System.Text;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>Request dispatch: generate, route, embed, cancel, listings, stats and admin operations.</summary>
public sealed partial class ClientConnection
{
    private bool DispatchRequest(in Frame frame)
    {
        // Every answer carries its request's id, so an id must name one request only (docs/protocol.md 1.2): a frame on
        // id 0 would be answered as the connection, one on an id in flight as that request. A cancel names a request
        // in flight on purpose; a pong is never answered.
        if (frame.Type is not (FrameType.Ping or FrameType.Pong or FrameType.Cancel or FrameType.Hello)
            && frame.RequestId == ProtocolConstants.ConnectionRequestId)
        {
            WriteError(0, FrameTypes.IsClientToServer(frame.Type) ? ErrorCode.BadFrame : ErrorCode.UnexpectedFrame,
                $"frame type 0x{(byte)frame.Type:x2} on request id 0, the connection's own: a request needs a non-zero id");
            return false;
        }

        if (frame.Type is not (FrameType.Pong or FrameType.Cancel) && RefuseDuplicateId(frame.RequestId))
        {
            return false;
        }

        switch (frame.Type)
        {
            case FrameType.Generate:
                StartGenerate(frame);
                return true;
            case FrameType.Chat:
                StartChat(frame);
                return true;
            case FrameType.Cancel:
                if (inFlight.TryGetValue(frame.RequestId, out var request))
                {
                    CancelRequest(request);
                }

                return true;
            case FrameType.Route:
                Route(frame);
                return true;
            case FrameType.Embed:
                StartEmbed(frame);
                return true;
            case FrameType.ListModels:
                ReadEmptyPayload(frame);
                ListModels(frame.RequestId);
                return true;
            case FrameType.GetStats:
                ReadEmptyPayload(frame);
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

    /// <summary>List-models and get-stats carry nothing; extra bytes are a bad frame (docs/protocol.md 4).</summary>
    private static void ReadEmptyPayload(in Frame frame)
    {
        if (!frame.Payload.IsEmpty)
        {
            using var payload = frame.LeasePayload();
            MessageReader.ReadEmpty(payload.Span);
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

        var command = Command(request);
        server.Pipeline.StartGeneration(command with { Prompt = request.Prompt }, new SocketGeneration(this, id), cancellation);
    }

    private void StartChat(in Frame frame)
    {
        var id = frame.RequestId;
        ChatGenerateRequest request;
        using (var payload = frame.LeasePayload())
        {
            request = MessageReader.ReadChat(payload.Span, server.Limits).ToRequest();
        }

        if (!TryBeginRequest(id, out var cancellation))
        {
            return;
        }

        var command = Command(request);
        var messages = request.Messages.Select(m => new Runtime.Chat.ChatTurn(m.Role, m.Content)).ToArray();
        server.Pipeline.StartGeneration(command with { Messages = messages }, new SocketGeneration(this, id), cancellation);
    }

    private void Route(in Frame frame)
    {
        RouteRequest request;
        using (var payload = frame.LeasePayload())
        {
            request = MessageReader.ReadRoute(payload.Span, server.Limits).ToRequest();
        }

        var id = frame.RequestId;
        try
        {
            var pending = server.Pipeline.RouteAsync(request.Prompt, Hints(request.LatencyClass, request.CostBudget, request.RequiredCapability));
            if (pending.IsCompletedSuccessfully)
            {
                SendRoute(id, pending.Result);
            }
            else
            {
                _ = SendRouteWhenDecidedAsync(id, pending); // the LLM judge is answering: the read loop goes on meanwhile
            }
        }
        catch (RequestException ex)
        {
            WriteError(id, ToWire(ex.Error), ex.Message);
        }
    }

    private async Task SendRouteWhenDecidedAsync(uint id, ValueTask<RouteOutcome> pending)
    {
        try
        {
            SendRoute(id, await pending.ConfigureAwait(false));
        }
        catch (RequestException ex)
        {
            WriteError(id, ToWire(ex.Error), ex.Message);
        }
    }

    private void SendRoute(uint id, RouteOutcome route) =>
        Send(0, (writer, _) => FrameWriter.WriteRouteResult(writer, id, new RouteDecision
            {
                Model = route.Model,
                TaskType = route.Task,
                Confidence = route.Confidence,
                Stage = WireStage(route),
                Reason = route.Reason,
                Tier = WireTier(route.Tier),
                RouteNanos = Durations.ToNanos(route.RouteTime),
                Fallbacks = route.Fallbacks.ToList(),
            }));

    private void StartEmbed(in Frame frame)
    {
        var id = frame.RequestId;
        EmbedRequest request;
        using (var payload = frame.LeasePayload())
        {
            request = MessageReader.ReadEmbed(payload.Span, server.Limits).ToRequest();
        }

        if (!TryBeginRequest(id, out var cancellation))
        {
            return;
        }

        _ = EmbedAsync(id, new EmbeddingCommand { Model = request.Model, Inputs = [request.Text], Normalize = request.Normalize }, cancellation);
    }

    private async Task EmbedAsync(uint id, EmbeddingCommand command, CancellationToken cancellation)
    {
        try
        {
            var vectors = await server.Pipeline.EmbedAsync(command, cancellation).ConfigureAwait(false);
            Send(0, (writer, _) => FrameWriter.WriteEmbedResult(writer, id, vectors.Model, vectors.Vector(0), vectors.PromptTokens[0]), endsRequest: id);
        }
        catch (RequestException ex)
        {
            WriteFailure(id, ex.Error, ex.Message);
        }
        catch (OperationCanceledException)
        {
            WriteFailure(id, RequestError.Cancelled, "cancelled");
        }
        finally
        {
            EndRequest(id); // whatever happened, the id and its slot are free (a no-op after a terminal frame)
        }
    }

    private void ListModels(uint id)
    {
        var models = server.Pipeline.ListModels().Select(m => new ModelInfo
        {
            Name = m.Name,
            Tier = WireTier(m.Tier),
            State = m.State switch
            {
                ModelStateView.Ready => Protocol.ModelState.Ready,
                ModelStateView.SwappingIn => Protocol.ModelState.SwappingIn,
                ModelStateView.SwappingOut => Protocol.ModelState.SwappingOut,
                ModelStateView.Failed => Protocol.ModelState.Failed,
                _ => Protocol.ModelState.Unloaded,
            },
            LatencyClass = m.LatencyClass switch
            {
                ModelRouter.Routing.Policies.LatencyClass.RealTime => LatencyClass.Realtime,
                ModelRouter.Routing.Policies.LatencyClass.Batch => LatencyClass.Batch,
                _ => LatencyClass.Interactive,
            },
            Flags = m.Pinned ? ModelFlags.Pinned : ModelFlags.None,
            WeightBytes = m.WeightBytes,
            Cost = (float)m.CostPer1kTokens,
            InFlight = m.InFlight,
            Queued = m.Queued,
            Capabilities = m.Capabilities,
        }).ToList();
        Send(0, (writer, _) => FrameWriter.WriteModelList(writer, id, models));
    }

    private void Stats(uint id)
    {
        var stats = server.Pipeline.Stats();
        var wire = new ServerStats
        {
            UptimeNanos = Durations.ToNanos(stats.Uptime),
            Connections = stats.Connections,
            InFlight = stats.InFlight,
            Queued = stats.Queued,
            ResidentModels = stats.ResidentModels,
            RequestsTotal = stats.RequestsTotal,
            TokensGenerated = stats.TokensGenerated,
            SwapsTotal = stats.SwapsTotal,
            ErrorsTotal = stats.ErrorsTotal,
            GpuBytesUsed = stats.DeviceBytesUsed,
            GpuBytesTotal = stats.DeviceBytesBudget,
            Extra = stats.ClusterNodes > 0 ? [new("cluster_nodes", stats.ClusterNodes)] : [],
        };
        Send(0, (writer, _) => FrameWriter.WriteStats(writer, id, wire));
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

        AdminAction action;
        switch (operation)
        {
            case AdminOperation.Preload: action = AdminAction.Preload; break;
            case AdminOperation.Pin: action = AdminAction.Pin; break;
            case AdminOperation.Unpin: action = AdminAction.Unpin; break;
            case AdminOperation.Evict: action = AdminAction.Evict; break;
            default:
                WriteError(id, ErrorCode.InvalidArgument, $"unknown admin operation {(byte)operation}");
                return;
        }

        if (!TryBeginRequest(id, out var cancellation))
        {
            return;
        }

        _ = AdminAsync(id, operation, action, model, cancellation);
    }

    private async Task AdminAsync(uint id, AdminOperation operation, AdminAction action, string model, CancellationToken cancellation)
    {
        try
        {
            var outcome = await server.Pipeline.AdminAsync(caller, action, model, cancellation).ConfigureAwait(false);
            Send(0, (writer, _) => FrameWriter.WriteAdminResult(writer, id, new AdminResult
                {
                    Operation = operation,
                    Model = outcome.Model,
                    Tier = WireTier(outcome.Tier),
                    State = outcome.State == ModelStateView.Ready ? Protocol.ModelState.Ready : Protocol.ModelState.Unloaded,
                    ElapsedNanos = Durations.ToNanos(outcome.Elapsed),
                    Message = outcome.Message,
                }), endsRequest: id);
        }
        catch (RequestException ex)
        {
            WriteError(id, ToWire(ex.Error), ex.Message, endsRequest: true);
        }
        catch (OperationCanceledException)
        {
            WriteError(id, ErrorCode.Cancelled, "cancelled", endsRequest: true);
        }
        finally
        {
            EndRequest(id);
        }
    }

    /// <summary>
    /// Registers a request id (the dispatcher has refused duplicates already: only the read loop adds ids); false, with an
    /// error frame sent, when the connection has too many in flight.
    /// </summary>
    private bool TryBeginRequest(uint id, out CancellationToken cancellation)
    {
        cancellation = default;
        if (inFlight.Count >= server.Limits.MaxRequestsInFlight)
        {
            WriteError(id, ErrorCode.TooManyRequestsInFlight, $"at most {server.Limits.MaxRequestsInFlight} requests in flight per connection");
            return false;
        }

        var source = new CancellationTokenSource();
        if (!inFlight.TryAdd(id, source))
        {
            source.Dispose();
            return false; // unreachable: ids are checked before dispatch on the one read loop
        }

        cancellation = source.Token;
        return true;
    }

    /// <summary>
    /// A request reusing the id of one in flight is fatal (106 on id 0, docs/protocol.md 1.2): an error on that id would
    /// read as the first request's terminal frame. The close that follows is graceful, so the first request still
    /// ends with exactly one terminal frame. True when refused.
    /// </summary>
    private bool RefuseDuplicateId(uint id)
    {
        if (id == ProtocolConstants.ConnectionRequestId || !inFlight.ContainsKey(id))
        {
            return false;
        }

        ServerLog.BadFrame(server.Logger, Id, $"request id {id} reused while in flight");
        WriteError(0, ErrorCode.DuplicateRequestId, $"request id {id} is already in flight");
        return true;
    }

    private void EndRequest(uint id)
    {
        if (inFlight.TryRemove(id, out var source))
        {
            source.Dispose();
            if (inFlight.IsEmpty)
            {
                Volatile.Read(ref requestsEnded)?.TrySetResult(); // a graceful close waits for this
            }
        }
    }

    /// <summary>Cancels a request; one that ended meanwhile (its source disposed) needs nothing.</summary>
    private static void CancelRequest(CancellationTokenSource request)
    {
        try
        {
            request.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // It delivered its terminal frame in the meantime.
        }
    }

    /// <summary>What generate and chat frames share, as a command (the caller adds the prompt or the messages).</summary>
    private static GenerationCommand Command(GenerationOptions request) => new()
    {
        Model = request.Model,
        MaxTokens = request.MaxTokens,
        Temperature = request.Temperature,
        TopP = request.TopP,
        TopK = request.TopK,
        Seed = request.Seed,
        Stop = request.StopSequences,
        Hints = Hints(request.LatencyClass, request.CostBudget, request.RequiredCapability),
        Forwarded = request.Forwarded,
        Output = request.OutputFormat switch
        {
            OutputFormat.JsonObject => new OutputConstraint(StructuredOutputKind.JsonObject),
            OutputFormat.JsonSchema => new OutputConstraint(StructuredOutputKind.JsonSchema, request.OutputSpec),
            OutputFormat.Grammar => new OutputConstraint(StructuredOutputKind.Grammar, request.OutputSpec),
            _ => null, // Text (the reader refuses an unknown format)
        },
    };

    private static RouteHints Hints(LatencyClass latency, float costBudget, string? capability) => new()
    {
        LatencyClass = latency switch
        {
            LatencyClass.Realtime => ModelRouter.Routing.Policies.LatencyClass.RealTime,
            LatencyClass.Interactive => ModelRouter.Routing.Policies.LatencyClass.Interactive,
            LatencyClass.Batch => ModelRouter.Routing.Policies.LatencyClass.Batch,
            _ => null,
        },
        CostBudgetPer1kTokens = costBudget > 0 ? costBudget : null,
        RequiredCapability = capability,
    };

    /// <summary>The deciding stage for this session: <see cref="RouteStage.None"/> unless it speaks version 2.</summary>
    private RouteStage WireStage(RouteOutcome? route) => route is null || sessionVersion < ProtocolConstants.RouteStageVersion
        ? RouteStage.None
        : route.Stage switch
        {
            "hint" => RouteStage.Hint,
            "classifier" => RouteStage.Classifier,
            "encoder" => RouteStage.Encoder,
            "judge" => RouteStage.Judge,
            "default" => RouteStage.Default,
            _ => RouteStage.None,
        };

    private static Protocol.ModelTier WireTier(ModelTierView tier) => tier switch
    {
        ModelTierView.Device => Protocol.ModelTier.Gpu,
        ModelTierView.Host => Protocol.ModelTier.Host,
        ModelTierView.Disk => Protocol.ModelTier.Disk,
        _ => Protocol.ModelTier.Unknown,
    };
}
