using System.Buffers;

namespace ModelRouter.Protocol;

public static partial class FrameWriter
{
    /// <summary>Generate (layout on <see cref="GeneratePayload"/>).</summary>
    public static void WriteGenerate(IBufferWriter<byte> output, uint requestId, GenerateRequest request)
    {
        CheckStops(request);
        var size = PayloadSize.Generate(request);
        var w = new PayloadWriter(Begin(output, FrameType.Generate, FrameFlags.None, requestId, size));
        WriteOptions(ref w, request);
        w.WriteString(request.Prompt);
        WriteStops(ref w, request.StopSequences);
        WriteOutputSpec(ref w, request);
        End(output, size, w);
    }

    /// <summary>
    /// Chat (layout on <see cref="ChatPayload"/>). Refuses only what cannot be encoded (more than 255 stop sequences or
    /// 65,535 messages); roles, counts and sizes are the receiver's to check.
    /// </summary>
    public static void WriteChat(IBufferWriter<byte> output, uint requestId, ChatGenerateRequest request)
    {
        CheckStops(request);
        var messages = request.Messages;
        ArgumentNullException.ThrowIfNull(messages, nameof(request));
        if (messages.Count > ushort.MaxValue)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(request), "at most 65,535 messages fit in a frame");
        }

        var size = PayloadSize.Chat(request);
        var w = new PayloadWriter(Begin(output, FrameType.Chat, FrameFlags.None, requestId, size));
        WriteOptions(ref w, request);
        w.WriteUInt16((ushort)messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            w.WriteString(messages[i].Role);
            w.WriteString(messages[i].Content);
        }

        WriteStops(ref w, request.StopSequences);
        WriteOutputSpec(ref w, request);
        End(output, size, w);
    }

    private static void CheckStops(GenerationOptions request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.StopSequences.Count > byte.MaxValue)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(request), "at most 255 stop sequences fit in a frame");
        }
    }

    /// <summary>The 32 fixed bytes, model and capability that generate and chat frames share.</summary>
    private static void WriteOptions(ref PayloadWriter w, GenerationOptions request)
    {
        w.WriteCount(request.MaxTokens);
        w.WriteCount(request.TopK);
        w.WriteSingle(request.Temperature);
        w.WriteSingle(request.TopP);
        w.WriteUInt64(request.Seed);
        w.WriteSingle(request.CostBudget);
        w.WriteByte((byte)request.LatencyClass);
        w.WriteByte((byte)request.StopSequences.Count);
        w.WriteByte((byte)request.OutputFormat);
        w.WriteByte(request.Forwarded ? ProtocolConstants.RequestFlagForwarded : (byte)0);
        w.WriteString(request.Model);
        w.WriteString(request.RequiredCapability);
    }

    /// <summary>The schema or grammar string, written only for the formats that carry one (an absent one as empty: the receiver refuses it).</summary>
    private static void WriteOutputSpec(ref PayloadWriter w, GenerationOptions request)
    {
        if (PayloadSize.HasOutputSpec(request.OutputFormat))
        {
            w.WriteString(request.OutputSpec ?? "");
        }
    }

    private static void WriteStops(ref PayloadWriter w, IReadOnlyList<string> stops)
    {
        for (var i = 0; i < stops.Count; i++)
        {
            w.WriteString(stops[i]);
        }
    }

    /// <summary>Route (layout on <see cref="RoutePayload"/>).</summary>
    public static void WriteRoute(IBufferWriter<byte> output, uint requestId, RouteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var size = PayloadSize.Route(request);
        var w = new PayloadWriter(Begin(output, FrameType.Route, FrameFlags.None, requestId, size));
        w.WriteSingle(request.CostBudget);
        w.WriteByte((byte)request.LatencyClass);
        w.WriteReserved(3);
        w.WriteString(request.RequiredCapability);
        w.WriteString(request.Prompt);
        End(output, size, w);
    }

    /// <summary>Embed (layout on <see cref="EmbedPayload"/>).</summary>
    public static void WriteEmbed(IBufferWriter<byte> output, uint requestId, EmbedRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var size = PayloadSize.Embed(request);
        var w = new PayloadWriter(Begin(output, FrameType.Embed, FrameFlags.None, requestId, size));
        w.WriteByte(request.Normalize ? ProtocolConstants.EmbedFlagNormalize : (byte)0);
        w.WriteReserved(3);
        w.WriteString(request.Model);
        w.WriteString(request.Text);
        End(output, size, w);
    }

    /// <summary>Admin (layout on <see cref="AdminPayload"/>).</summary>
    public static void WriteAdmin(IBufferWriter<byte> output, uint requestId, AdminOperation operation, ReadOnlySpan<char> model)
    {
        var size = AdminPayload.FixedSize + PayloadSize.OfString(model);
        var w = new PayloadWriter(Begin(output, FrameType.Admin, FrameFlags.None, requestId, size));
        w.WriteByte((byte)operation);
        w.WriteReserved(3);
        w.WriteString(model);
        End(output, size, w);
    }

    /// <summary>Cancel the request <paramref name="requestId"/> (empty payload).</summary>
    public static void WriteCancel(IBufferWriter<byte> output, uint requestId) => WriteEmpty(output, FrameType.Cancel, requestId);

    /// <summary>List models (empty payload).</summary>
    public static void WriteListModels(IBufferWriter<byte> output, uint requestId) => WriteEmpty(output, FrameType.ListModels, requestId);

    /// <summary>Get stats (empty payload).</summary>
    public static void WriteGetStats(IBufferWriter<byte> output, uint requestId) => WriteEmpty(output, FrameType.GetStats, requestId);

    private static void WriteEmpty(IBufferWriter<byte> output, FrameType type, uint requestId)
    {
        Begin(output, type, FrameFlags.None, requestId, 0);
        End(output, 0);
    }
}
