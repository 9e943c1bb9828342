using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ModelRouter.Protocol.Tests;

/// <summary>
/// The chat frame's own rules (the sample in <see cref="SampleFrames"/> covers round trips, splits, truncations and the
/// specification's example): message count, roles, content limits, UTF-8, and the fields it shares with generate.
/// </summary>
public sealed class ChatPayloadTests
{
    private static readonly ProtocolLimits Limits = ProtocolLimits.Default;

    /// <summary>Where the message count sits when model and capability are empty: the fixed part, then two empty strings.</summary>
    private const int MessageCountOffset = ChatPayload.FixedSize + 4 + 4;

    /// <summary>Where the first role's bytes sit when model and capability are empty.</summary>
    private const int FirstRoleOffset = MessageCountOffset + ChatPayload.MessageCountSize + 4;

    private static ChatGenerateRequest Request(params ChatRequestMessage[] messages) => new() { Messages = messages };

    private static ChatGenerateRequest User(string content) => Request(new ChatRequestMessage(ChatRoles.User, content));

    private static byte[] Payload(ChatGenerateRequest request)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteChat(output, 1, request);
        var bytes = output.WrittenSpan.ToArray();
        Assert.Equal(PayloadSize.Chat(request), bytes.Length - ProtocolConstants.HeaderSize);
        return bytes[ProtocolConstants.HeaderSize..];
    }

    private static ErrorCode Fails(byte[] payload, ProtocolLimits? limits = null)
    {
        var use = limits ?? Limits;
        var error = Assert.Throws<ProtocolException>(() => MessageReader.ReadChat(payload, use));
        Assert.False(error.IsFatal);
        return error.Code;
    }

    [Fact]
    public void NoMessagesIsAnInvalidArgument()
    {
        Assert.Equal(ErrorCode.InvalidArgument, Fails(Payload(Request())));
    }

    [Fact]
    public void MessagesUpToTheLimitAreAcceptedOneMoreIsAnInvalidArgument()
    {
        var atLimit = Enumerable.Range(0, Limits.MaxChatMessages).Select(i => new ChatRequestMessage(i % 2 == 0 ? "user" : "assistant", $"m{i}")).ToArray();
        Assert.Equal(ProtocolLimits.DefaultMaxChatMessages, MessageReader.ReadChat(Payload(Request(atLimit)), Limits).MessageCount);
        var tooMany = atLimit.Append(new ChatRequestMessage("user", "one more")).ToArray();
        Assert.Equal(ErrorCode.InvalidArgument, Fails(Payload(Request(tooMany))));

        var two = Limits with { MaxChatMessages = 2 };
        Assert.Equal(ErrorCode.InvalidArgument, Fails(Payload(Request(atLimit[..3])), two));
        Assert.Equal(2, MessageReader.ReadChat(Payload(Request(atLimit[..2])), two).MessageCount);
    }

    [Fact]
    public void ACountTheBytesLeftCannotHoldIsABadFrame()
    {
        var payload = Payload(User("x"));
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(MessageCountOffset), 200); // 200 × 8 bytes > what is left
        Assert.Equal(ErrorCode.BadFrame, Fails(payload));
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(MessageCountOffset), 2); // fits the minimum, then runs out
        Assert.Equal(ErrorCode.BadFrame, Fails(payload));
    }

    [Theory]
    [InlineData("")]
    [InlineData("bot")]
    [InlineData("User")]
    [InlineData("SYSTEM")]
    [InlineData("user ")]
    [InlineData("function")]
    [InlineData("developer")]
    public void AnUnknownRoleIsAnInvalidArgument(string role)
    {
        Assert.Equal(ErrorCode.InvalidArgument, Fails(Payload(Request(new(ChatRoles.System, "s"), new(role, "x")))));
    }

    [Fact]
    public void EveryRoleIsAcceptedAndContentMayBeEmpty()
    {
        ChatRequestMessage[] messages =
        [
            new(ChatRoles.System, "rules"), new(ChatRoles.User, "call it"), new(ChatRoles.Assistant, ""), new(ChatRoles.Tool, "{\"ok\":true}"),
            new(ChatRoles.User, "☃ thanks"),
        ];
        var chat = MessageReader.ReadChat(Payload(Request(messages)), Limits);
        var seen = new List<(string, string)>();
        foreach (var message in chat.Messages)
        {
            seen.Add((Encoding.UTF8.GetString(message.Role), message.GetContent()));
        }

        Assert.Equal(messages.Select(m => (m.Role, m.Content)), seen);
        Assert.Equal(messages.Sum(m => Encoding.UTF8.GetByteCount(m.Content)), chat.ContentBytes);
        Assert.Equal(messages, chat.ToRequest().Messages);
    }

    [Fact]
    public void ContentOverTheLimitIsPromptTooLong()
    {
        var limits = Limits with { MaxPromptBytes = 10 };
        Assert.Equal(ErrorCode.PromptTooLong, Fails(Payload(User("12345678901")), limits));
        Assert.Equal(10, MessageReader.ReadChat(Payload(User("1234567890")), limits).ContentBytes);

        // Each message within the limit, together over it.
        var split = Request(new(ChatRoles.System, "123456"), new(ChatRoles.User, "78901"));
        Assert.Equal(ErrorCode.PromptTooLong, Fails(Payload(split), limits));
        var together = Request(new(ChatRoles.System, "12345"), new(ChatRoles.User, "67890"));
        Assert.Equal(10, MessageReader.ReadChat(Payload(together), limits).ContentBytes);

        // Bytes, not characters: 4 snowmen are 12 bytes.
        Assert.Equal(ErrorCode.PromptTooLong, Fails(Payload(User("☃☃☃☃")), limits));
    }

    [Theory]
    [MemberData(nameof(PayloadValidationTests.InvalidUtf8), MemberType = typeof(PayloadValidationTests))]
    public void InvalidUtf8InARoleOrAContentIsInvalidUtf8(byte[] bad)
    {
        // The content of the last message ends the payload when there are no stop sequences.
        var content = Payload(User(new string('Q', bad.Length)));
        bad.CopyTo(content, content.Length - bad.Length);
        Assert.Equal(ErrorCode.InvalidUtf8, Fails(content));

        var role = Payload(Request(new ChatRequestMessage(new string('Q', bad.Length), "x")));
        bad.CopyTo(role, FirstRoleOffset);
        Assert.Equal(ErrorCode.InvalidUtf8, Fails(role));
    }

    [Fact]
    public void TheFieldsSharedWithGenerateAreCheckedTheSameWay()
    {
        Assert.Equal(ErrorCode.MaxTokensExceeded, Fails(Payload(new ChatGenerateRequest { Messages = [new("user", "x")], MaxTokens = Limits.MaxTokens + 1 })));
        var tooManyStops = Enumerable.Range(0, Limits.MaxStopSequences + 1).Select(i => $"s{i}").ToArray();
        Assert.Equal(ErrorCode.InvalidArgument, Fails(Payload(new ChatGenerateRequest { Messages = [new("user", "x")], StopSequences = tooManyStops })));
        Assert.Equal(ErrorCode.InvalidArgument, Fails(Payload(new ChatGenerateRequest { Messages = [new("user", "x")], StopSequences = [""] })));
        Assert.Equal(ErrorCode.InvalidArgument, Fails(Payload(new ChatGenerateRequest { Messages = [new("user", "x")], Model = new string('m', Limits.MaxNameBytes + 1) })));

        foreach (var (offset, value) in new[] { (8, float.NaN), (8, -1f), (12, 1.5f), (24, float.PositiveInfinity) })
        {
            var payload = Payload(User("x"));
            BinaryPrimitives.WriteSingleLittleEndian(payload.AsSpan(offset), value);
            Assert.Equal(ErrorCode.InvalidArgument, Fails(payload));
        }

        var latency = Payload(User("x"));
        latency[28] = 4;
        Assert.Equal(ErrorCode.InvalidArgument, Fails(latency));
        var reserved = Payload(User("x"));
        reserved[31] = 0x80; // an undefined request flag
        Assert.Equal(ErrorCode.BadFrame, Fails(reserved));
        var topK = Payload(User("x"));
        BinaryPrimitives.WriteUInt32LittleEndian(topK.AsSpan(4), 0x8000_0000);
        Assert.Equal(ErrorCode.InvalidArgument, Fails(topK));
    }

    [Fact]
    public void TheForwardedFlagRoundTripsAsItDoesOnGenerate()
    {
        var payload = Payload(User("Hi"));
        var forwarded = Payload(new ChatGenerateRequest { Messages = [new(ChatRoles.User, "Hi")], Model = "tiny", Forwarded = true });

        Assert.Equal(0, payload[31]);
        Assert.False(MessageReader.ReadChat(payload, Limits).Forwarded);
        Assert.Equal(ProtocolConstants.RequestFlagForwarded, forwarded[31]);
        Assert.True(MessageReader.ReadChat(forwarded, Limits).Forwarded);
        Assert.True(MessageReader.ReadChat(forwarded, Limits).ToRequest().Forwarded);
    }

    [Fact]
    public void ANamedModelAndHintsRoundTrip()
    {
        var request = new ChatGenerateRequest
        {
            Model = "qwen-coder-1.5b",
            RequiredCapability = "code",
            Messages = [new(ChatRoles.User, "fn main() {")],
            MaxTokens = 16,
            Temperature = 0,
            TopP = 0,
            LatencyClass = LatencyClass.Batch,
            CostBudget = 0.25f,
            StopSequences = ["}", "\n\n"],
        };
        var chat = MessageReader.ReadChat(Payload(request), Limits);
        Assert.False(chat.IsRouted);
        var back = chat.ToRequest();
        Assert.Equal(request.Model, back.Model);
        Assert.Equal(request.RequiredCapability, back.RequiredCapability);
        Assert.Equal(request.Messages, back.Messages);
        Assert.Equal(request.MaxTokens, back.MaxTokens);
        Assert.Equal(request.Temperature, back.Temperature);
        Assert.Equal(request.TopP, back.TopP);
        Assert.Equal(request.LatencyClass, back.LatencyClass);
        Assert.Equal(request.CostBudget, back.CostBudget);
        Assert.Equal(request.StopSequences, back.StopSequences);
    }

    [Fact]
    public void ALargeConversationAcrossManySegmentsRoundTrips()
    {
        var messages = Enumerable.Range(0, 150) // 150 × 1,400 content bytes: within max prompt bytes, ~50 segments
            .Select(i => new ChatRequestMessage(i % 2 == 0 ? ChatRoles.User : ChatRoles.Assistant, string.Concat(Enumerable.Repeat($"{i:x4}☃", 200))))
            .ToArray();
        var request = Request(messages);
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteChat(output, 99, request);
        var bytes = output.WrittenSpan.ToArray();
        var cuts = Enumerable.Range(1, (bytes.Length - 1) / 4096).Select(i => i * 4096).ToArray();
        var buffer = Segments.Split(bytes, cuts);
        Assert.True(FrameReader.TryReadFrame(ref buffer, SampleFrames.Limits, out var frame));
        Assert.Equal(FrameType.Chat, frame.Type);
        Assert.False(frame.Payload.IsSingleSegment);
        using var payload = frame.LeasePayload();
        Assert.Equal(messages, MessageReader.ReadChat(payload.Span, SampleFrames.Limits).ToRequest().Messages);
    }

    [Fact]
    public void TheWriterRefusesOnlyWhatCannotBeEncoded()
    {
        var output = new ArrayBufferWriter<byte>();
        var tooMany = Request(Enumerable.Repeat(new ChatRequestMessage("user", ""), ushort.MaxValue + 1).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameWriter.WriteChat(output, 1, tooMany));
        Assert.Throws<ArgumentNullException>(() => FrameWriter.WriteChat(output, 1, new ChatGenerateRequest { Messages = null! }));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void RolesAreRecognisedExactly()
    {
        Assert.Same(ChatRoles.Tool, ChatRoles.FromUtf8("tool"u8));
        Assert.Null(ChatRoles.FromUtf8("Tool"u8));
        Assert.True(ChatRoles.IsDefined("system"));
        Assert.False(ChatRoles.IsDefined((string?)null));
        Assert.False(ChatRoles.IsDefined("tools"u8));
    }

    [Fact]
    public void ChatIsAClientRequestAnsweredLikeGenerate()
    {
        Assert.True(FrameTypes.IsDefined(FrameType.Chat));
        Assert.True(FrameTypes.IsClientToServer(FrameType.Chat));
        Assert.False(FrameTypes.IsServerToClient(FrameType.Chat));
        Assert.False(FrameTypes.IsTerminal(FrameType.Chat));
        Assert.Equal(0x17, (byte)FrameType.Chat);
    }
}
