namespace ModelRouter.Protocol;

/// <summary>
/// Payload readers, one per message kind, over a contiguous payload (<see cref="Frame.LeasePayload"/>). Requests and
/// the hot responses come back as ref-struct views with UTF-8 spans (no allocation); the rare responses as managed
/// objects. Every failure is a non-fatal <see cref="ProtocolException"/> with request id 0: attribute it with
/// <see cref="ProtocolException.WithRequestId"/> or the frame's id.
/// </summary>
public static partial class MessageReader
{
    /// <summary>Hello: <c>0 u16 max version, 2 u16 reserved = 0, 4 str client name, str token</c>.</summary>
    public static HelloMessage ReadHello(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var maxVersion = reader.ReadUInt16();
        reader.ReadReserved(2);
        var clientName = reader.ReadString(limits.MaxNameBytes, "client name");
        var token = reader.ReadString(limits.MaxTokenBytes, "token");
        reader.EnsureEnd();
        if (maxVersion < ProtocolConstants.Version)
        {
            ThrowHelper.Payload(ErrorCode.UnsupportedVersion, $"client speaks up to version {maxVersion}, the lowest supported is {ProtocolConstants.Version}");
        }

        return new HelloMessage
        {
            MaxVersion = maxVersion,
            ClientName = System.Text.Encoding.UTF8.GetString(clientName),
            Token = System.Text.Encoding.UTF8.GetString(token),
        };
    }

    /// <summary>
    /// Hello-ok: <c>0 u16 version, 2 u16 session flags, 4 u32 max payload bytes, 8 u32 max prompt bytes,
    /// 12 u32 max tokens, 16 u32 max requests in flight, 20 u64 connection id, 28 str server name</c>.
    /// </summary>
    public static ServerHello ReadHelloOk(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var version = reader.ReadUInt16();
        var flags = reader.ReadUInt16();
        var maxPayload = reader.ReadCount("max payload bytes");
        var maxPrompt = reader.ReadCount("max prompt bytes");
        var maxTokens = reader.ReadCount("max tokens");
        var maxInFlight = reader.ReadCount("max requests in flight");
        var connectionId = reader.ReadUInt64();
        var serverName = reader.ReadString(limits.MaxNameBytes, "server name");
        reader.EnsureEnd();
        if (version is < ProtocolConstants.Version or > ProtocolConstants.HighestVersion)
        {
            ThrowHelper.Payload(ErrorCode.UnsupportedVersion, $"server chose version {version}, this side speaks {ProtocolConstants.Version} to {ProtocolConstants.HighestVersion}");
        }

        if ((flags & ~ProtocolConstants.SessionFlagAdmin) != 0)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"undefined session flags 0x{flags:X4}");
        }

        if (maxPayload is 0 or > ProtocolLimits.AbsoluteMaxPayloadBytes || maxPrompt == 0 || maxTokens == 0 || maxInFlight == 0)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "hello-ok announces a zero or out-of-range limit");
        }

        return new ServerHello
        {
            Version = version,
            IsAdmin = (flags & ProtocolConstants.SessionFlagAdmin) != 0,
            MaxPayloadBytes = maxPayload,
            MaxPromptBytes = maxPrompt,
            MaxTokens = maxTokens,
            MaxRequestsInFlight = maxInFlight,
            ConnectionId = connectionId,
            ServerName = System.Text.Encoding.UTF8.GetString(serverName),
        };
    }

    /// <summary>Ping and pong: <c>0 u64 opaque value</c> (the pong echoes the ping's).</summary>
    public static ulong ReadPing(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var value = reader.ReadUInt64();
        reader.EnsureEnd();
        return value;
    }

    /// <summary>Go-away: <c>0 str reason</c>.</summary>
    public static ReadOnlySpan<byte> ReadGoAway(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var reason = reader.ReadString(payload.Length, "reason");
        reader.EnsureEnd();
        return reason;
    }

    /// <summary>Cancel, list-models and get-stats carry no payload.</summary>
    public static void ReadEmpty(ReadOnlySpan<byte> payload)
    {
        if (!payload.IsEmpty)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"expected an empty payload, got {payload.Length} bytes");
        }
    }

    /// <summary>Generate (layout on <see cref="GeneratePayload"/>).</summary>
    public static GeneratePayload ReadGenerate(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var options = ReadOptions(ref reader, limits, out var model, out var capability);
        var prompt = reader.ReadString(limits.MaxPromptBytes, "prompt", ErrorCode.PromptTooLong);
        var stopSection = ReadStopSequences(ref reader, payload, options.StopCount, limits);
        var outputSpec = ReadOutputSpec(ref reader, options.OutputFormat, limits);
        reader.EnsureEnd();

        ValidateSampling(options, limits);
        if (prompt.IsEmpty)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "empty prompt");
        }

        return new GeneratePayload(
            (int)options.MaxTokens, (int)options.TopK, options.Temperature, options.TopP, options.Seed, options.CostBudget, (LatencyClass)options.Latency,
            model, capability, prompt, options.StopCount, stopSection)
        {
            OutputFormat = (OutputFormat)options.OutputFormat,
            OutputSpec = outputSpec,
            Forwarded = (options.Flags & ProtocolConstants.RequestFlagForwarded) != 0,
        };
    }

    /// <summary>Route (layout on <see cref="RoutePayload"/>).</summary>
    public static RoutePayload ReadRoute(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var costBudget = reader.ReadSingle();
        var latency = reader.ReadByte();
        reader.ReadReserved(3);
        var capability = reader.ReadString(limits.MaxNameBytes, "required capability");
        var prompt = reader.ReadString(limits.MaxPromptBytes, "prompt", ErrorCode.PromptTooLong);
        reader.EnsureEnd();
        ValidateHints(costBudget, latency);
        if (prompt.IsEmpty)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "empty prompt");
        }

        return new RoutePayload(costBudget, (LatencyClass)latency, capability, prompt);
    }

    /// <summary>Embed (layout on <see cref="EmbedPayload"/>).</summary>
    public static EmbedPayload ReadEmbed(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var flags = reader.ReadByte();
        reader.ReadReserved(3);
        var model = reader.ReadString(limits.MaxNameBytes, "model");
        var text = reader.ReadString(limits.MaxPromptBytes, "text", ErrorCode.PromptTooLong);
        reader.EnsureEnd();
        if ((flags & ~ProtocolConstants.EmbedFlagNormalize) != 0)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"undefined embed flags 0x{flags:X2}");
        }

        if (text.IsEmpty)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "empty text");
        }

        return new EmbedPayload((flags & ProtocolConstants.EmbedFlagNormalize) != 0, model, text);
    }

    /// <summary>Admin (layout on <see cref="AdminPayload"/>).</summary>
    public static AdminPayload ReadAdmin(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var operation = reader.ReadByte();
        reader.ReadReserved(3);
        var model = reader.ReadString(limits.MaxNameBytes, "model");
        reader.EnsureEnd();
        if (operation is < (byte)AdminOperation.Preload or > (byte)AdminOperation.Evict)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, $"unknown admin operation {operation}");
        }

        if (model.IsEmpty)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "admin operation without a model");
        }

        return new AdminPayload((AdminOperation)operation, model);
    }

    /// <summary>The stop sequences of a generate or chat: each non-empty and within the limits. Returns their section of the payload.</summary>
    private static ReadOnlySpan<byte> ReadStopSequences(scoped ref PayloadReader reader, ReadOnlySpan<byte> payload, int stopCount, scoped in ProtocolLimits limits)
    {
        if (stopCount > limits.MaxStopSequences)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, $"{stopCount} stop sequences, the limit is {limits.MaxStopSequences}");
        }

        var stopStart = reader.Position;
        for (var i = 0; i < stopCount; i++)
        {
            if (reader.ReadString(limits.MaxStopSequenceBytes, "stop sequence").IsEmpty)
            {
                ThrowHelper.Payload(ErrorCode.InvalidArgument, "empty stop sequence");
            }
        }

        return payload[stopStart..reader.Position];
    }

    /// <summary>
    /// The schema or grammar after the stop sequences, present only for <see cref="OutputFormat.JsonSchema"/> and
    /// <see cref="OutputFormat.Grammar"/>: non-empty, at most max prompt bytes. An unknown format is refused first,
    /// since the layout of what follows depends on it. What the text says is the server's to check.
    /// </summary>
    private static ReadOnlySpan<byte> ReadOutputSpec(scoped ref PayloadReader reader, byte format, scoped in ProtocolLimits limits)
    {
        if (format > (byte)OutputFormat.Grammar)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, $"unknown output format {format}");
        }

        if (format < (byte)OutputFormat.JsonSchema)
        {
            return default;
        }

        var what = format == (byte)OutputFormat.JsonSchema ? "JSON schema" : "grammar";
        var spec = reader.ReadString(limits.MaxPromptBytes, what, ErrorCode.PromptTooLong);
        if (spec.IsEmpty)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, $"empty {what}");
        }

        return spec;
    }

    /// <summary>
    /// The 32 fixed bytes, model and capability that generate and chat payloads share (checked later, with
    /// <see cref="ValidateSampling"/>, once the whole payload has been read).
    /// </summary>
    private static GenerationFields ReadOptions(scoped ref PayloadReader reader, scoped in ProtocolLimits limits, out ReadOnlySpan<byte> model, out ReadOnlySpan<byte> capability)
    {
        var fields = new GenerationFields(
            reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadSingle(), reader.ReadSingle(), reader.ReadUInt64(), reader.ReadSingle(),
            reader.ReadByte(), reader.ReadByte(), reader.ReadByte(), reader.ReadByte());
        if ((fields.Flags & ~ProtocolConstants.RequestFlagForwarded) != 0)
        {
            ThrowHelper.Payload(ErrorCode.BadFrame, $"undefined request flags 0x{fields.Flags:X2}");
        }

        model = reader.ReadString(limits.MaxNameBytes, "model");
        capability = reader.ReadString(limits.MaxNameBytes, "required capability");
        return fields;
    }

    /// <summary>The sampling fields and routing hints shared by generate and chat.</summary>
    private static void ValidateSampling(in GenerationFields options, scoped in ProtocolLimits limits)
    {
        var (maxTokens, topK, temperature, topP, _, costBudget, latency, _, _, _) = options;
        if (maxTokens > (uint)limits.MaxTokens)
        {
            ThrowHelper.Payload(ErrorCode.MaxTokensExceeded, $"max tokens {maxTokens} exceeds the limit of {limits.MaxTokens}");
        }

        if (topK > int.MaxValue)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, $"top-k out of range: {topK}");
        }

        if (!float.IsFinite(temperature) || temperature < 0)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "temperature must be finite and non-negative");
        }

        if (!(topP >= 0 && topP <= 1))
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "top-p must be in [0, 1]");
        }

        ValidateHints(costBudget, latency);
    }

    private static void ValidateHints(float costBudget, byte latency)
    {
        if (!float.IsFinite(costBudget) || costBudget < 0)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "cost budget must be finite and non-negative");
        }

        if (latency > (byte)LatencyClass.Batch)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, $"unknown latency class {latency}");
        }
    }
}

/// <summary>The fixed numbers of a generate or chat payload, in wire order, before validation.</summary>
internal readonly record struct GenerationFields(
    uint MaxTokens, uint TopK, float Temperature, float TopP, ulong Seed, float CostBudget, byte Latency, byte StopCount, byte OutputFormat, byte Flags);
