using System.Buffers;
using System.Runtime.InteropServices;

namespace ModelRouter.Protocol;

public static partial class FrameWriter
{
    /// <summary>
    /// Token chunk from UTF-8 bytes the caller guarantees are complete sequences (see <see cref="Utf8Boundary"/>);
    /// the hot path of a generation: no encoding, one copy.
    /// </summary>
    public static void WriteTokenChunk(IBufferWriter<byte> output, uint requestId, ReadOnlySpan<byte> utf8Text, int tokenCount = 1)
    {
        var size = TokenChunkPayload.FixedSize + PayloadSize.OfUtf8(utf8Text);
        var w = new PayloadWriter(Begin(output, FrameType.TokenChunk, FrameFlags.None, requestId, size));
        w.WriteCount(tokenCount);
        w.WriteUtf8String(utf8Text);
        End(output, size, w);
    }

    /// <summary>Token chunk from text.</summary>
    public static void WriteTokenChunk(IBufferWriter<byte> output, uint requestId, ReadOnlySpan<char> text, int tokenCount = 1)
    {
        var size = TokenChunkPayload.FixedSize + PayloadSize.OfString(text);
        var w = new PayloadWriter(Begin(output, FrameType.TokenChunk, FrameFlags.None, requestId, size));
        w.WriteCount(tokenCount);
        w.WriteString(text);
        End(output, size, w);
    }

    /// <summary>
    /// Done (layout on <see cref="DonePayload"/>): ends a generation. <paramref name="withCachedTokens"/> appends the
    /// cached prompt tokens: only in sessions of version 3 (<see cref="ProtocolConstants.CachedTokensVersion"/>) or later;
    /// <paramref name="withNode"/> appends the serving node and its placement after them: version 4
    /// (<see cref="ProtocolConstants.ServingNodeVersion"/>) or later, and only with the cached tokens.
    /// </summary>
    public static void WriteDone(IBufferWriter<byte> output, uint requestId, in GenerationStats stats, ReadOnlySpan<char> model, ReadOnlySpan<char> taskType,
        bool withCachedTokens = false, bool withNode = false, ReadOnlySpan<char> node = default, ReadOnlySpan<char> placement = default)
    {
        if (withNode && !withCachedTokens)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(withNode), "the serving node follows the cached prompt tokens (version 4 includes version 3)");
        }

        var size = DonePayload.FixedSize + PayloadSize.OfString(model) + PayloadSize.OfString(taskType) + (withCachedTokens ? DonePayload.CachedTokensSize : 0)
            + (withNode ? PayloadSize.OfString(node) + PayloadSize.OfString(placement) : 0);
        var w = new PayloadWriter(Begin(output, FrameType.Done, FrameFlags.Final, requestId, size));
        w.WriteByte((byte)stats.FinishReason);
        w.WriteByte((byte)stats.Stage);
        w.WriteUInt16(stats.Stage == RouteStage.None ? (ushort)0 : QuantizeConfidence(stats.StageConfidence));
        w.WriteCount(stats.PromptTokens);
        w.WriteCount(stats.GeneratedTokens);
        w.WriteSingle(stats.TokensPerSecond);
        w.WriteInt64(stats.RouteNanos);
        w.WriteInt64(stats.QueueWaitNanos);
        w.WriteInt64(stats.SwapNanos);
        w.WriteInt64(stats.TimeToFirstTokenNanos);
        w.WriteInt64(stats.TotalNanos);
        w.WriteString(model);
        w.WriteString(taskType);
        if (withCachedTokens)
        {
            w.WriteCount(stats.CachedPromptTokens);
        }

        if (withNode)
        {
            w.WriteString(node);
            w.WriteString(placement);
        }

        End(output, size, w);
    }

    /// <summary>A confidence in [0, 1] as the done frame's u16 (NaN and values outside the range clamp; NaN to 0).</summary>
    internal static ushort QuantizeConfidence(float confidence) =>
        float.IsNaN(confidence) ? (ushort)0 : (ushort)MathF.Round(Math.Clamp(confidence, 0f, 1f) * ushort.MaxValue);

    /// <summary>Route result (layout on <see cref="MessageReader.ReadRouteResult"/>).</summary>
    public static void WriteRouteResult(IBufferWriter<byte> output, uint requestId, RouteDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var fallbacks = decision.Fallbacks;
        if (fallbacks.Count > byte.MaxValue)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(decision), "at most 255 fallbacks fit in a frame");
        }

        var size = 16 + PayloadSize.OfString(decision.Model) + PayloadSize.OfString(decision.TaskType) + PayloadSize.OfString(decision.Reason);
        for (var i = 0; i < fallbacks.Count; i++)
        {
            size += PayloadSize.OfString(fallbacks[i]);
        }

        var w = new PayloadWriter(Begin(output, FrameType.RouteResult, FrameFlags.Final, requestId, size));
        w.WriteInt64(decision.RouteNanos);
        w.WriteSingle(decision.Confidence);
        w.WriteByte((byte)decision.Tier);
        w.WriteByte((byte)fallbacks.Count);
        w.WriteByte((byte)decision.Stage);
        w.WriteReserved(1);
        w.WriteString(decision.Model);
        w.WriteString(decision.TaskType);
        w.WriteString(decision.Reason);
        for (var i = 0; i < fallbacks.Count; i++)
        {
            w.WriteString(fallbacks[i]);
        }

        End(output, size, w);
    }

    /// <summary>Embed result (layout on <see cref="EmbedResultPayload"/>).</summary>
    public static void WriteEmbedResult(IBufferWriter<byte> output, uint requestId, ReadOnlySpan<char> model, ReadOnlySpan<float> vector, int promptTokens)
    {
        var size = 4 + PayloadSize.OfString(model) + 4 + (vector.Length * sizeof(float));
        var w = new PayloadWriter(Begin(output, FrameType.EmbedResult, FrameFlags.Final, requestId, size));
        w.WriteCount(promptTokens);
        w.WriteString(model);
        w.WriteCount(vector.Length);
        if (BitConverter.IsLittleEndian)
        {
            w.WriteBytes(MemoryMarshal.AsBytes(vector));
        }
        else
        {
            foreach (var value in vector)
            {
                w.WriteSingle(value);
            }
        }

        End(output, size, w);
    }

    /// <summary>Model list (layout on <see cref="MessageReader.ReadModelList"/>).</summary>
    public static void WriteModelList(IBufferWriter<byte> output, uint requestId, IReadOnlyList<ModelInfo> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        if (models.Count > ushort.MaxValue)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(models), "at most 65535 models fit in a frame");
        }

        var size = 4;
        for (var i = 0; i < models.Count; i++)
        {
            var model = models[i];
            size += PayloadSize.OfString(model.Name) + 4 + 8 + 4 + 4 + 4 + 2;
            for (var c = 0; c < model.Capabilities.Count; c++)
            {
                size += PayloadSize.OfString(model.Capabilities[c]);
            }
        }

        var w = new PayloadWriter(Begin(output, FrameType.ModelList, FrameFlags.Final, requestId, size));
        w.WriteUInt16((ushort)models.Count);
        w.WriteReserved(2);
        for (var i = 0; i < models.Count; i++)
        {
            var model = models[i];
            w.WriteString(model.Name);
            w.WriteByte((byte)model.Tier);
            w.WriteByte((byte)model.State);
            w.WriteByte((byte)model.LatencyClass);
            w.WriteByte((byte)model.Flags);
            w.WriteInt64(model.WeightBytes);
            w.WriteSingle(model.Cost);
            w.WriteCount(model.InFlight);
            w.WriteCount(model.Queued);
            w.WriteUInt16((ushort)Math.Min(model.Capabilities.Count, ushort.MaxValue));
            for (var c = 0; c < model.Capabilities.Count && c < ushort.MaxValue; c++)
            {
                w.WriteString(model.Capabilities[c]);
            }
        }

        End(output, size, w);
    }

    /// <summary>Stats (layout on <see cref="MessageReader.ReadStats"/>).</summary>
    public static void WriteStats(IBufferWriter<byte> output, uint requestId, ServerStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var extra = stats.Extra;
        if (extra.Count > ushort.MaxValue)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(stats), "at most 65535 extra values fit in a frame");
        }

        var size = 88;
        for (var i = 0; i < extra.Count; i++)
        {
            size += PayloadSize.OfString(extra[i].Key) + sizeof(double);
        }

        var w = new PayloadWriter(Begin(output, FrameType.Stats, FrameFlags.Final, requestId, size));
        w.WriteInt64(stats.UptimeNanos);
        w.WriteCount(stats.Connections);
        w.WriteCount(stats.InFlight);
        w.WriteCount(stats.Queued);
        w.WriteCount(stats.ResidentModels);
        w.WriteInt64(stats.RequestsTotal);
        w.WriteInt64(stats.TokensGenerated);
        w.WriteInt64(stats.SwapsTotal);
        w.WriteInt64(stats.ErrorsTotal);
        w.WriteInt64(stats.GpuBytesUsed);
        w.WriteInt64(stats.GpuBytesTotal);
        w.WriteInt64(stats.HostBytesUsed);
        w.WriteSingle(stats.GpuIdleShare);
        w.WriteUInt16((ushort)extra.Count);
        w.WriteReserved(2);
        for (var i = 0; i < extra.Count; i++)
        {
            w.WriteString(extra[i].Key);
            w.WriteDouble(extra[i].Value);
        }

        End(output, size, w);
    }

    /// <summary>Admin result (layout on <see cref="MessageReader.ReadAdminResult"/>).</summary>
    public static void WriteAdminResult(IBufferWriter<byte> output, uint requestId, AdminResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var size = 12 + PayloadSize.OfString(result.Model) + PayloadSize.OfString(result.Message);
        var w = new PayloadWriter(Begin(output, FrameType.AdminResult, FrameFlags.Final, requestId, size));
        w.WriteByte((byte)result.Operation);
        w.WriteByte((byte)result.Tier);
        w.WriteByte((byte)result.State);
        w.WriteReserved(1);
        w.WriteInt64(result.ElapsedNanos);
        w.WriteString(result.Model);
        w.WriteString(result.Message);
        End(output, size, w);
    }
}
