using System.Text;

namespace ModelRouter.Protocol;

public static partial class MessageReader
{
    /// <summary>Token chunk (layout on <see cref="TokenChunkPayload"/>).</summary>
    public static TokenChunkPayload ReadTokenChunk(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var tokenCount = reader.ReadCount("token count");
        var text = reader.ReadString(payload.Length, "text");
        reader.EnsureEnd();
        return new TokenChunkPayload(tokenCount, text);
    }

    /// <summary>Done (layout on <see cref="DonePayload"/>).</summary>
    public static DonePayload ReadDone(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var finish = reader.ReadByte();
        var stage = ReadStage(ref reader);
        var stageConfidence = reader.ReadUInt16();
        var stats = new GenerationStats
        {
            FinishReason = (FinishReason)finish,
            PromptTokens = reader.ReadCount("prompt tokens"),
            GeneratedTokens = reader.ReadCount("generated tokens"),
            TokensPerSecond = reader.ReadSingle(),
            RouteNanos = reader.ReadInt64("route ns"),
            QueueWaitNanos = reader.ReadInt64("queue wait ns"),
            SwapNanos = reader.ReadInt64("swap ns"),
            TimeToFirstTokenNanos = reader.ReadInt64("time to first token ns"),
            TotalNanos = reader.ReadInt64("total ns"),
            Stage = stage,
            StageConfidence = stageConfidence / (float)ushort.MaxValue,
        };
        var model = reader.ReadString(limits.MaxNameBytes, "model");
        var taskType = reader.ReadString(limits.MaxNameBytes, "task type");
        if (reader.Remaining >= DonePayload.CachedTokensSize)
        {
            // Version 3 appends it; a version 1 or 2 frame ends at the task type.
            stats = stats with { CachedPromptTokens = reader.ReadCount("cached prompt tokens") };
            if (stats.CachedPromptTokens > stats.PromptTokens)
            {
                ThrowHelper.Payload(ErrorCode.BadFrame, "more cached prompt tokens than prompt tokens");
            }
        }

        // Version 4 appends the serving node and its placement after them; a version 3 frame ends at the cached tokens.
        ReadOnlySpan<byte> node = default, placement = default;
        if (reader.Remaining > 0)
        {
            node = reader.ReadString(limits.MaxNameBytes, "serving node");
            placement = reader.ReadString(limits.MaxNameBytes, "placement");
        }

        reader.EnsureEnd();
        if (finish > (byte)FinishReason.ContextFull)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"unknown finish reason {finish}");
        }

        if (stage == RouteStage.None && stageConfidence != 0)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, "a stage confidence without a route stage");
        }

        if (!float.IsFinite(stats.TokensPerSecond) || stats.TokensPerSecond < 0)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, "tokens per second must be finite and non-negative");
        }

        return new DonePayload(stats, model, taskType, node, placement);
    }

    /// <summary>A route stage byte (version 2); a value this version does not define is <c>100 bad-frame</c>.</summary>
    private static RouteStage ReadStage(ref PayloadReader reader)
    {
        var stage = reader.ReadByte();
        if (stage > (byte)RouteStage.Default)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"unknown route stage {stage}");
        }

        return (RouteStage)stage;
    }

    /// <summary>Error (layout on <see cref="ErrorPayload"/>).</summary>
    public static ErrorPayload ReadError(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var code = reader.ReadUInt16();
        reader.ReadReserved(2);
        var message = reader.ReadString(payload.Length, "message");
        reader.EnsureEnd();
        return new ErrorPayload((ErrorCode)code, message);
    }

    /// <summary>Embed result (layout on <see cref="EmbedResultPayload"/>).</summary>
    public static EmbedResultPayload ReadEmbedResult(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var promptTokens = reader.ReadCount("prompt tokens");
        var model = reader.ReadString(limits.MaxNameBytes, "model");
        var dimension = reader.ReadCount("dimension");
        if ((long)dimension * sizeof(float) != reader.Remaining)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"dimension {dimension} does not match the {reader.Remaining} vector bytes");
        }

        var vector = reader.ReadBytes(dimension * sizeof(float));
        reader.EnsureEnd();
        return new EmbedResultPayload(promptTokens, model, vector);
    }

    /// <summary>
    /// Route result: <c>0 u64 route ns, 8 f32 confidence, 12 u8 tier, 13 u8 fallback count,
    /// 14 u8 route stage (version 2; 0 in version 1), 15 u8 reserved = 0,
    /// 16 str model, str task type, str reason, str fallback × count</c>.
    /// </summary>
    public static RouteDecision ReadRouteResult(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var routeNanos = reader.ReadInt64("route ns");
        var confidence = reader.ReadSingle();
        var tier = ReadTier(ref reader);
        var fallbackCount = reader.ReadByte();
        var stage = ReadStage(ref reader);
        reader.ReadReserved(1);
        var model = reader.ReadString(limits.MaxNameBytes, "model");
        var taskType = reader.ReadString(limits.MaxNameBytes, "task type");
        var reason = reader.ReadString(payload.Length, "reason");
        var fallbacks = fallbackCount == 0 ? [] : new string[fallbackCount];
        for (var i = 0; i < fallbacks.Length; i++)
        {
            fallbacks[i] = Encoding.UTF8.GetString(reader.ReadString(limits.MaxNameBytes, "fallback"));
        }

        reader.EnsureEnd();
        return new RouteDecision
        {
            Model = Encoding.UTF8.GetString(model),
            TaskType = Encoding.UTF8.GetString(taskType),
            Reason = Encoding.UTF8.GetString(reason),
            Confidence = confidence,
            Stage = stage,
            Tier = tier,
            RouteNanos = routeNanos,
            Fallbacks = fallbacks,
        };
    }

    /// <summary>
    /// Model list: <c>0 u16 count, 2 u16 reserved = 0</c>, then per model <c>str name, u8 tier, u8 state,
    /// u8 latency class, u8 flags, u64 weight bytes, f32 cost, u32 in flight, u32 queued, u16 capability count,
    /// str capability × count</c>.
    /// </summary>
    public static ModelInfo[] ReadModelList(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        const int MinEntrySize = 4 + 4 + 8 + 4 + 4 + 4 + 2;
        var reader = new PayloadReader(payload);
        var count = reader.ReadUInt16();
        reader.ReadReserved(2);
        if (count > reader.Remaining / MinEntrySize)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"{count} models cannot fit in {reader.Remaining} bytes");
        }

        var models = count == 0 ? [] : new ModelInfo[count];
        for (var i = 0; i < models.Length; i++)
        {
            models[i] = ReadModelInfo(ref reader, limits);
        }

        reader.EnsureEnd();
        return models;
    }

    private static ModelInfo ReadModelInfo(ref PayloadReader reader, scoped in ProtocolLimits limits)
    {
        var name = reader.ReadString(limits.MaxNameBytes, "model name");
        var tier = ReadTier(ref reader);
        var state = reader.ReadByte();
        var latency = reader.ReadByte();
        var flags = reader.ReadByte();
        var weightBytes = reader.ReadInt64("weight bytes");
        var cost = reader.ReadSingle();
        var inFlight = reader.ReadCount("in flight");
        var queued = reader.ReadCount("queued");
        var capabilityCount = reader.ReadUInt16();
        if (capabilityCount > reader.Remaining / 4)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"{capabilityCount} capabilities cannot fit in {reader.Remaining} bytes");
        }

        var capabilities = capabilityCount == 0 ? [] : new string[capabilityCount];
        for (var c = 0; c < capabilities.Length; c++)
        {
            capabilities[c] = Encoding.UTF8.GetString(reader.ReadString(limits.MaxNameBytes, "capability"));
        }

        if (state > (byte)ModelState.Failed || latency > (byte)LatencyClass.Batch ||
            (flags & ~(byte)(ModelFlags.Pinned | ModelFlags.Embeddings)) != 0 || !float.IsFinite(cost))
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, "model entry has an out-of-range state, latency class, flags or cost");
        }

        return new ModelInfo
        {
            Name = Encoding.UTF8.GetString(name),
            Tier = tier,
            State = (ModelState)state,
            LatencyClass = (LatencyClass)latency,
            Flags = (ModelFlags)flags,
            WeightBytes = weightBytes,
            Cost = cost,
            InFlight = inFlight,
            Queued = queued,
            Capabilities = capabilities,
        };
    }

    /// <summary>
    /// Stats: <c>0 u64 uptime ns, 8 u32 connections, 12 u32 in flight, 16 u32 queued, 20 u32 resident models,
    /// 24 u64 requests total, 32 u64 tokens generated, 40 u64 swaps total, 48 u64 errors total, 56 u64 GPU bytes used,
    /// 64 u64 GPU bytes total, 72 u64 host bytes used, 80 f32 GPU idle share, 84 u16 extra count, 86 u16 reserved = 0,
    /// 88 (str name, f64 value) × extra count</c>.
    /// </summary>
    public static ServerStats ReadStats(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var uptime = reader.ReadInt64("uptime ns");
        var connections = reader.ReadCount("connections");
        var inFlight = reader.ReadCount("in flight");
        var queued = reader.ReadCount("queued");
        var resident = reader.ReadCount("resident models");
        var requests = reader.ReadInt64("requests total");
        var tokens = reader.ReadInt64("tokens generated");
        var swaps = reader.ReadInt64("swaps total");
        var errors = reader.ReadInt64("errors total");
        var gpuUsed = reader.ReadInt64("GPU bytes used");
        var gpuTotal = reader.ReadInt64("GPU bytes total");
        var hostUsed = reader.ReadInt64("host bytes used");
        var idleShare = reader.ReadSingle();
        var extraCount = reader.ReadUInt16();
        reader.ReadReserved(2);
        if (extraCount > reader.Remaining / 12)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"{extraCount} extra values cannot fit in {reader.Remaining} bytes");
        }

        var extra = extraCount == 0 ? [] : new KeyValuePair<string, double>[extraCount];
        for (var i = 0; i < extra.Length; i++)
        {
            var name = Encoding.UTF8.GetString(reader.ReadString(limits.MaxNameBytes, "stat name"));
            extra[i] = new KeyValuePair<string, double>(name, reader.ReadDouble());
        }

        reader.EnsureEnd();
        if (!(idleShare >= 0 && idleShare <= 1))
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, "GPU idle share must be in [0, 1]");
        }

        return new ServerStats
        {
            UptimeNanos = uptime,
            Connections = connections,
            InFlight = inFlight,
            Queued = queued,
            ResidentModels = resident,
            RequestsTotal = requests,
            TokensGenerated = tokens,
            SwapsTotal = swaps,
            ErrorsTotal = errors,
            GpuBytesUsed = gpuUsed,
            GpuBytesTotal = gpuTotal,
            HostBytesUsed = hostUsed,
            GpuIdleShare = idleShare,
            Extra = extra,
        };
    }

    /// <summary>
    /// Admin result: <c>0 u8 operation, 1 u8 tier, 2 u8 state, 3 u8 reserved = 0, 4 u64 elapsed ns, 12 str model,
    /// str message</c>.
    /// </summary>
    public static AdminResult ReadAdminResult(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var operation = reader.ReadByte();
        var tier = ReadTier(ref reader);
        var state = reader.ReadByte();
        reader.ReadReserved(1);
        var elapsed = reader.ReadInt64("elapsed ns");
        var model = reader.ReadString(limits.MaxNameBytes, "model");
        var message = reader.ReadString(payload.Length, "message");
        reader.EnsureEnd();
        if (operation is < (byte)AdminOperation.Preload or > (byte)AdminOperation.Evict || state > (byte)ModelState.Failed)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, "admin result has an out-of-range operation or state");
        }

        return new AdminResult
        {
            Operation = (AdminOperation)operation,
            Tier = tier,
            State = (ModelState)state,
            ElapsedNanos = elapsed,
            Model = Encoding.UTF8.GetString(model),
            Message = Encoding.UTF8.GetString(message),
        };
    }

    private static ModelTier ReadTier(ref PayloadReader reader)
    {
        var tier = reader.ReadByte();
        if (tier > (byte)ModelTier.Remote)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"unknown model tier {tier}");
        }

        return (ModelTier)tier;
    }
}
