using System.Text;
using ModelRouter.Protocol;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Routing;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>Request dispatch: generate, route, embed, cancel, listings, stats and admin operations.</summary>
public sealed partial class ClientConnection
{
    private bool DispatchRequest(in Frame frame)
    {
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
            var route = server.Pipeline.Route(request.Prompt, Hints(request.LatencyClass, request.CostBudget, request.RequiredCapability));
            Send(0, (writer, _) => FrameWriter.WriteRouteResult(writer, id, new RouteDecision
                {
                    Model = route.Model,
                    TaskType = route.Task,
                    Confidence = route.Confidence,
                    Reason = route.Reason,
                    Tier = WireTier(route.Tier),
                    RouteNanos = Durations.ToNanos(route.RouteTime),
                    Fallbacks = route.Fallbacks.ToList(),
                }));
        }
        catch (RequestException ex)
        {
            WriteError(id, ToWire(ex.Error), ex.Message);
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
            Send(0, (writer, _) => FrameWriter.WriteEmbedResult(writer, id, vectors.Model, vectors.Vector(0), vectors.PromptTokens[0]));
            EndRequest(id);
        }
        catch (RequestException ex)
        {
            WriteFailure(id, ex.Error, ex.Message);
        }
        catch (OperationCanceledException)
        {
            WriteFailure(id, RequestError.Cancelled, "cancelled");
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

        _ = AdminAsync(id, operation, action, model);
    }

    private async Task AdminAsync(uint id, AdminOperation operation, AdminAction action, string model)
    {
        try
        {
            var outcome = await server.Pipeline.AdminAsync(caller, action, model, closing.Token).ConfigureAwait(false);
            Send(0, (writer, _) => FrameWriter.WriteAdminResult(writer, id, new AdminResult
                {
                    Operation = operation,
                    Model = outcome.Model,
                    Tier = WireTier(outcome.Tier),
                    State = outcome.State == ModelStateView.Ready ? Protocol.ModelState.Ready : Protocol.ModelState.Unloaded,
                    ElapsedNanos = Durations.ToNanos(outcome.Elapsed),
                    Message = outcome.Message,
                }));
        }
        catch (RequestException ex)
        {
            WriteError(id, ToWire(ex.Error), ex.Message);
        }
        catch (OperationCanceledException)
        {
            WriteError(id, ErrorCode.Cancelled, "the connection closed");
        }
    }

    /// <summary>Registers a request id; false (with an error frame sent) for duplicates, too many in flight, or shutdown.</summary>
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

    private static Protocol.ModelTier WireTier(ModelTierView tier) => tier switch
    {
        ModelTierView.Device => Protocol.ModelTier.Gpu,
        ModelTierView.Host => Protocol.ModelTier.Host,
        ModelTierView.Disk => Protocol.ModelTier.Disk,
        _ => Protocol.ModelTier.Unknown,
    };
}
