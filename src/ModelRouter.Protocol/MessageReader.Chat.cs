namespace ModelRouter.Protocol;

public static partial class MessageReader
{
    /// <summary>Chat (layout on <see cref="ChatPayload"/>).</summary>
    public static ChatPayload ReadChat(ReadOnlySpan<byte> payload, scoped in ProtocolLimits limits)
    {
        var reader = new PayloadReader(payload);
        var options = ReadOptions(ref reader, limits, out var model, out var capability);
        var messageCount = reader.ReadUInt16();
        if (messageCount == 0)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, "a chat needs at least one message");
        }

        if (messageCount > limits.MaxChatMessages)
        {
            ThrowHelper.Payload(ErrorCode.InvalidArgument, $"{messageCount} chat messages, the limit is {limits.MaxChatMessages}");
        }

        // Each message is at least two empty strings: a count the bytes left cannot hold is refused before the loop.
        if (messageCount * ChatPayload.MinMessageSize > reader.Remaining)
        {
            ThrowHelper.Truncated(messageCount * ChatPayload.MinMessageSize, reader.Remaining);
        }

        var messageStart = reader.Position;
        var contentBytes = 0;
        for (var i = 0; i < messageCount; i++)
        {
            var role = reader.ReadString(limits.MaxNameBytes, "message role");
            if (!ChatRoles.IsDefined(role))
            {
                ThrowHelper.Payload(ErrorCode.InvalidArgument, $"message {i} has an unknown role (expected system, user, assistant or tool)");
            }

            // Per message and in total: both bounded by max prompt bytes, so the sum cannot overflow.
            contentBytes += reader.ReadString(limits.MaxPromptBytes, "message content", ErrorCode.PromptTooLong).Length;
            if (contentBytes > limits.MaxPromptBytes)
            {
                ThrowHelper.Payload(ErrorCode.PromptTooLong, $"the messages' contents exceed the limit of {limits.MaxPromptBytes} bytes");
            }
        }

        var messageSection = payload[messageStart..reader.Position];
        var stopSection = ReadStopSequences(ref reader, payload, options.StopCount, limits);
        var outputSpec = ReadOutputSpec(ref reader, options.OutputFormat, limits);
        reader.EnsureEnd();

        ValidateSampling(options, limits);
        return new ChatPayload(
            (int)options.MaxTokens, (int)options.TopK, options.Temperature, options.TopP, options.Seed, options.CostBudget, (LatencyClass)options.Latency,
            model, capability, messageCount, messageSection, contentBytes, options.StopCount, stopSection)
        {
            OutputFormat = (OutputFormat)options.OutputFormat,
            OutputSpec = outputSpec,
            Forwarded = (options.Flags & ProtocolConstants.RequestFlagForwarded) != 0,
        };
    }
}
