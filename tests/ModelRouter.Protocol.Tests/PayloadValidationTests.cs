using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ModelRouter.Protocol.Tests;

/// <summary>Malformed payloads inside well-formed frames: a non-fatal error for that request, never a crash.</summary>
public sealed class PayloadValidationTests
{
    private static readonly ProtocolLimits Limits = ProtocolLimits.Default;

    private static byte[] Payload(Action<IBufferWriter<byte>> write)
    {
        var output = new ArrayBufferWriter<byte>();
        write(output);
        return output.WrittenSpan[ProtocolConstants.HeaderSize..].ToArray();
    }

    private static byte[] GeneratePayload(GenerateRequest request) => Payload(w => FrameWriter.WriteGenerate(w, 1, request));

    private static ProtocolException Fails(Action action)
    {
        var error = Assert.Throws<ProtocolException>(action);
        Assert.False(error.IsFatal);
        return error;
    }

    private static ErrorCode GenerateFails(byte[] payload) => Fails(() => MessageReader.ReadGenerate(payload, Limits)).Code;

    [Theory]
    [MemberData(nameof(SampleFrames.Names), MemberType = typeof(SampleFrames))]
    public void EveryTruncationOfEveryPayloadFails(string name)
    {
        var sample = SampleFrames.Get(name);
        var payload = sample.Encode()[ProtocolConstants.HeaderSize..];
        for (var length = 0; length < payload.Length; length++)
        {
            if (name == "done-cached" && length == payload.Length - DonePayload.CachedTokensSize)
            {
                continue; // without version 3's appended field it is a whole version 2 done (the field is optional to a reader)
            }

            if (name == "done-node" && (length == payload.Length - 25 || length == payload.Length - 25 - DonePayload.CachedTokensSize))
            {
                continue; // without version 4's node and placement (13 + 12 bytes) it is a whole version 3 done, and without both a version 2 one
            }

            var prefix = payload[..length];
            Fails(() => sample.Verify(prefix));
        }
    }

    [Theory]
    [MemberData(nameof(SampleFrames.Names), MemberType = typeof(SampleFrames))]
    public void TrailingBytesFail(string name)
    {
        var sample = SampleFrames.Get(name);
        var payload = sample.Encode()[ProtocolConstants.HeaderSize..].Append((byte)0).ToArray();
        Assert.Equal(ErrorCode.BadFrame, Fails(() => sample.Verify(payload)).Code);
    }

    public static TheoryData<byte[]> InvalidUtf8 => new()
    {
        new byte[] { 0xFF },
        new byte[] { 0xC0, 0x80 },             // overlong NUL
        new byte[] { 0xED, 0xA0, 0x80 },       // UTF-16 surrogate
        new byte[] { (byte)'a', 0xE2, 0x98 },  // truncated sequence
        new byte[] { 0xF4, 0x90, 0x80, 0x80 }, // above U+10FFFF
        new byte[] { 0x80 },                   // lone continuation
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public void BadUtf8InEveryKindOfStringFails(byte[] bad)
    {
        var badString = BitConverter.GetBytes((uint)bad.Length).Concat(bad).ToArray();
        Assert.Equal(ErrorCode.InvalidUtf8, Fails(() => MessageReader.ReadTokenChunk(new byte[] { 1, 0, 0, 0 }.Concat(badString).ToArray())).Code);
        Assert.Equal(ErrorCode.InvalidUtf8, Fails(() => MessageReader.ReadError(new byte[] { 100, 0, 0, 0 }.Concat(badString).ToArray())).Code);

        // A generate whose prompt is replaced by the bad bytes.
        var head = GeneratePayload(new GenerateRequest { Prompt = "x" });
        var generate = head[..^5].Concat(badString).ToArray();
        Assert.Equal(ErrorCode.InvalidUtf8, GenerateFails(generate));

        var hello = new byte[] { 1, 0, 0, 0 }.Concat(badString).Concat(new byte[4]).ToArray();
        Assert.Equal(ErrorCode.InvalidUtf8, Fails(() => MessageReader.ReadHello(hello, Limits)).Code);
    }

    [Fact]
    public void PromptOverTheLimitIsPromptTooLong()
    {
        var limits = Limits with { MaxPromptBytes = 10 };
        var payload = GeneratePayload(new GenerateRequest { Prompt = "12345678901" });
        Assert.Equal(ErrorCode.PromptTooLong, Fails(() => MessageReader.ReadGenerate(payload, limits)).Code);
        var atLimit = GeneratePayload(new GenerateRequest { Prompt = "1234567890" });
        Assert.Equal(10, MessageReader.ReadGenerate(atLimit, limits).Prompt.Length);

        var route = Payload(w => FrameWriter.WriteRoute(w, 1, new RouteRequest { Prompt = "12345678901" }));
        Assert.Equal(ErrorCode.PromptTooLong, Fails(() => MessageReader.ReadRoute(route, limits)).Code);
        var embed = Payload(w => FrameWriter.WriteEmbed(w, 1, new EmbedRequest { Text = "12345678901" }));
        Assert.Equal(ErrorCode.PromptTooLong, Fails(() => MessageReader.ReadEmbed(embed, limits)).Code);
    }

    [Fact]
    public void MultiByteTextIsLimitedInBytesNotCharacters()
    {
        var limits = Limits with { MaxPromptBytes = 10 };
        var payload = GeneratePayload(new GenerateRequest { Prompt = "☃☃☃☃" }); // 4 chars, 12 bytes
        Assert.Equal(ErrorCode.PromptTooLong, Fails(() => MessageReader.ReadGenerate(payload, limits)).Code);
    }

    [Fact]
    public void MaxTokensOverTheLimitFails()
    {
        Assert.Equal(ErrorCode.MaxTokensExceeded, GenerateFails(GeneratePayload(new GenerateRequest { Prompt = "x", MaxTokens = Limits.MaxTokens + 1 })));
        Assert.Equal(Limits.MaxTokens, MessageReader.ReadGenerate(GeneratePayload(new GenerateRequest { Prompt = "x", MaxTokens = Limits.MaxTokens }), Limits).MaxTokens);
        var huge = GeneratePayload(new GenerateRequest { Prompt = "x" });
        BinaryPrimitives.WriteUInt32LittleEndian(huge, uint.MaxValue);
        Assert.Equal(ErrorCode.MaxTokensExceeded, GenerateFails(huge));
    }

    [Fact]
    public void StopSequenceLimits()
    {
        var tooMany = Enumerable.Range(0, Limits.MaxStopSequences + 1).Select(i => $"s{i}").ToArray();
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(GeneratePayload(new GenerateRequest { Prompt = "x", StopSequences = tooMany })));
        var tooLong = new string('s', Limits.MaxStopSequenceBytes + 1);
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(GeneratePayload(new GenerateRequest { Prompt = "x", StopSequences = [tooLong] })));
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(GeneratePayload(new GenerateRequest { Prompt = "x", StopSequences = [""] })));

        var ok = MessageReader.ReadGenerate(GeneratePayload(new GenerateRequest { Prompt = "x", StopSequences = ["a", "bc", "☃"] }), Limits);
        var seen = new List<string>();
        foreach (var stop in ok.StopSequences)
        {
            seen.Add(Encoding.UTF8.GetString(stop));
        }

        string[] expected = ["a", "bc", "☃"];
        Assert.Equal(expected, seen);
    }

    [Fact]
    public void NamesOverTheLimitFail()
    {
        var longName = new string('m', Limits.MaxNameBytes + 1);
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(GeneratePayload(new GenerateRequest { Prompt = "x", Model = longName })));
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(GeneratePayload(new GenerateRequest { Prompt = "x", RequiredCapability = longName })));
        var hello = Payload(w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "c", Token = new string('t', Limits.MaxTokenBytes + 1) }));
        Assert.Equal(ErrorCode.InvalidArgument, Fails(() => MessageReader.ReadHello(hello, Limits)).Code);
        var admin = Payload(w => FrameWriter.WriteAdmin(w, 1, AdminOperation.Evict, longName));
        Assert.Equal(ErrorCode.InvalidArgument, Fails(() => MessageReader.ReadAdmin(admin, Limits)).Code);
    }

    [Theory]
    [InlineData(8, float.NaN)]
    [InlineData(8, -0.5f)]
    [InlineData(8, float.PositiveInfinity)]
    [InlineData(12, 1.5f)]
    [InlineData(12, -0.1f)]
    [InlineData(12, float.NaN)]
    [InlineData(24, -1f)]
    [InlineData(24, float.NaN)]
    [InlineData(24, float.PositiveInfinity)]
    public void OutOfRangeFloatsAreInvalidArguments(int offset, float value)
    {
        var payload = GeneratePayload(new GenerateRequest { Prompt = "x" });
        BinaryPrimitives.WriteSingleLittleEndian(payload.AsSpan(offset), value);
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(payload));
    }

    [Fact]
    public void OutOfRangeEnumsAndReservedBytesFail()
    {
        var payload = GeneratePayload(new GenerateRequest { Prompt = "x" });
        payload[28] = 4; // latency class
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(payload));

        payload = GeneratePayload(new GenerateRequest { Prompt = "x" });
        payload[31] = 0x02; // request flags: only bit 0 (forwarded) is defined
        Assert.Equal(ErrorCode.BadFrame, GenerateFails(payload));

        payload = GeneratePayload(new GenerateRequest { Prompt = "x" });
        payload[30] = 4; // output format past grammar
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(payload));

        payload = GeneratePayload(new GenerateRequest { Prompt = "x" });
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), 0x8000_0000); // top-k
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(payload));

        var embed = Payload(w => FrameWriter.WriteEmbed(w, 1, new EmbedRequest { Text = "x" }));
        embed[0] = 0x02;
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadEmbed(embed, Limits)).Code);

        foreach (var op in new byte[] { 0, 5, 255 })
        {
            var admin = Payload(w => FrameWriter.WriteAdmin(w, 1, (AdminOperation)op, "m"));
            Assert.Equal(ErrorCode.InvalidArgument, Fails(() => MessageReader.ReadAdmin(admin, Limits)).Code);
        }

        var done = SampleFrames.Get("done").Encode()[ProtocolConstants.HeaderSize..];
        done[0] = 6;
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadDone(done, Limits)).Code);
        done[0] = 1;
        BinaryPrimitives.WriteSingleLittleEndian(done.AsSpan(12), float.NaN);
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadDone(done, Limits)).Code);

        var route = SampleFrames.Get("route-result").Encode()[ProtocolConstants.HeaderSize..];
        route[12] = 9; // tier
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadRouteResult(route, Limits)).Code);

        done[0] = 2;
        BinaryPrimitives.WriteSingleLittleEndian(done.AsSpan(12), 1f);
        done[1] = 6; // route stage past default
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadDone(done, Limits)).Code);
        done[1] = 0;
        done[2] = 1; // a stage confidence without a stage
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadDone(done, Limits)).Code);

        route[12] = 2;
        route[14] = 6; // route stage past default
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadRouteResult(route, Limits)).Code);
        route[14] = 0;
        route[15] = 1; // still reserved
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadRouteResult(route, Limits)).Code);

        var durations = SampleFrames.Get("done").Encode()[ProtocolConstants.HeaderSize..];
        BinaryPrimitives.WriteUInt64LittleEndian(durations.AsSpan(16), ulong.MaxValue);
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadDone(durations, Limits)).Code);

        // Version 3's cached prompt tokens: never more than the prompt's, and nothing but those 4 bytes may follow the task type.
        var cached = SampleFrames.Get("done-cached").Encode()[ProtocolConstants.HeaderSize..];
        BinaryPrimitives.WriteUInt32LittleEndian(cached.AsSpan(cached.Length - 4), 10); // 10 cached of 9 prompt tokens
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadDone(cached, Limits)).Code);
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadDone([.. SampleFrames.Get("done").Encode()[ProtocolConstants.HeaderSize..], 1, 0], Limits)).Code);
    }

    [Fact]
    public void EmptyPromptTextAndAdminModelAreInvalid()
    {
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(GeneratePayload(new GenerateRequest { Prompt = "" })));
        var route = Payload(w => FrameWriter.WriteRoute(w, 1, new RouteRequest { Prompt = "" }));
        Assert.Equal(ErrorCode.InvalidArgument, Fails(() => MessageReader.ReadRoute(route, Limits)).Code);
        var embed = Payload(w => FrameWriter.WriteEmbed(w, 1, new EmbedRequest { Text = "" }));
        Assert.Equal(ErrorCode.InvalidArgument, Fails(() => MessageReader.ReadEmbed(embed, Limits)).Code);
        var admin = Payload(w => FrameWriter.WriteAdmin(w, 1, AdminOperation.Pin, ""));
        Assert.Equal(ErrorCode.InvalidArgument, Fails(() => MessageReader.ReadAdmin(admin, Limits)).Code);
    }

    [Fact]
    public void HandshakeVersionsAreChecked()
    {
        var hello = Payload(w => FrameWriter.WriteHello(w, new HelloMessage { MaxVersion = 0 }));
        Assert.Equal(ErrorCode.UnsupportedVersion, Fails(() => MessageReader.ReadHello(hello, Limits)).Code);
        var newer = Payload(w => FrameWriter.WriteHello(w, new HelloMessage { MaxVersion = 5 }));
        Assert.Equal(5, MessageReader.ReadHello(newer, Limits).MaxVersion); // the server answers with the highest it speaks

        var two = Payload(w => FrameWriter.WriteHelloOk(w, new ServerHello { Version = ProtocolConstants.HighestVersion }));
        Assert.Equal(ProtocolConstants.HighestVersion, MessageReader.ReadHelloOk(two, Limits).Version);
        var ok = Payload(w => FrameWriter.WriteHelloOk(w, new ServerHello { Version = ProtocolConstants.HighestVersion + 1 }));
        Assert.Equal(ErrorCode.UnsupportedVersion, Fails(() => MessageReader.ReadHelloOk(ok, Limits)).Code);
        var zeroLimit = Payload(w => FrameWriter.WriteHelloOk(w, new ServerHello { MaxRequestsInFlight = 0 }));
        Assert.Equal(ErrorCode.InvalidArgument, Fails(() => MessageReader.ReadHelloOk(zeroLimit, Limits)).Code);
        var admin = Payload(w => FrameWriter.WriteHelloOk(w, new ServerHello { IsAdmin = true }));
        Assert.True(MessageReader.ReadHelloOk(admin, Limits).IsAdmin);
    }

    [Fact]
    public void DeclaredCountsBeyondThePayloadFailWithoutAllocatingForThem()
    {
        var string4G = new byte[] { 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF };
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadTokenChunk(string4G)).Code);

        var models = new byte[] { 0xFF, 0xFF, 0, 0, 1, 2, 3 };
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadModelList(models, Limits)).Code);

        var embed = SampleFrames.Get("embed-result").Encode()[ProtocolConstants.HeaderSize..];
        var dimensionOffset = 4 + 4 + "embed-small".Length;
        BinaryPrimitives.WriteUInt32LittleEndian(embed.AsSpan(dimensionOffset), 5);
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadEmbedResult(embed, Limits)).Code);
        BinaryPrimitives.WriteUInt32LittleEndian(embed.AsSpan(dimensionOffset), 0x4000_0001);
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadEmbedResult(embed, Limits)).Code);

        var stats = SampleFrames.Get("stats").Encode()[ProtocolConstants.HeaderSize..];
        BinaryPrimitives.WriteUInt16LittleEndian(stats.AsSpan(84), ushort.MaxValue);
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadStats(stats, Limits)).Code);
    }

    [Fact]
    public void EmptyPayloadKindsRejectAPayload()
    {
        Assert.Equal(ErrorCode.BadFrame, Fails(() => MessageReader.ReadEmpty(new byte[] { 0 })).Code);
        MessageReader.ReadEmpty(ReadOnlySpan<byte>.Empty);
    }

    [Fact]
    public void UnknownErrorCodesPassThrough()
    {
        var payload = Payload(w => FrameWriter.WriteError(w, 1, (ErrorCode)4242, "newer server"));
        var error = MessageReader.ReadError(payload);
        Assert.Equal((ErrorCode)4242, error.Code);
        Assert.Equal("newer server", error.GetMessage());
    }

    [Fact]
    public void WithRequestIdAttributesAPayloadError()
    {
        var error = Fails(() => MessageReader.ReadTokenChunk(new byte[] { 1 }));
        var attributed = error.WithRequestId(12);
        Assert.Equal(12u, attributed.RequestId);
        Assert.Equal(error.Code, attributed.Code);
        Assert.False(attributed.IsFatal);
    }

    [Fact]
    public void OutputFormatsCarryTheirSpecExactlyWhenTheyNeedOne()
    {
        // json-object carries no spec: the plain payload with byte 30 = 1 is complete, and a string after it is extra.
        var plain = GeneratePayload(new GenerateRequest { Prompt = "x" });
        plain[30] = (byte)OutputFormat.JsonObject;
        Assert.Equal(OutputFormat.JsonObject, MessageReader.ReadGenerate(plain, Limits).OutputFormat);
        Assert.True(MessageReader.ReadGenerate(plain, Limits).OutputSpec.IsEmpty);

        var schema = GeneratePayload(new GenerateRequest { Prompt = "x", OutputFormat = OutputFormat.JsonSchema, OutputSpec = "{}" });
        var withExtra = (byte[])schema.Clone();
        withExtra[30] = (byte)OutputFormat.JsonObject;
        Assert.Equal(ErrorCode.BadFrame, GenerateFails(withExtra));

        // json-schema and grammar need theirs: absent is a truncation, empty is a wrong argument.
        plain[30] = (byte)OutputFormat.Grammar;
        Assert.Equal(ErrorCode.BadFrame, GenerateFails(plain));
        var empty = GeneratePayload(new GenerateRequest { Prompt = "x", OutputFormat = OutputFormat.JsonSchema });
        Assert.Equal(ErrorCode.InvalidArgument, GenerateFails(empty));

        var read = MessageReader.ReadGenerate(schema, Limits).ToRequest();
        Assert.Equal(OutputFormat.JsonSchema, read.OutputFormat);
        Assert.Equal("{}", read.OutputSpec);

        var tooLong = GeneratePayload(new GenerateRequest { Prompt = "x", OutputFormat = OutputFormat.Grammar, OutputSpec = new string('a', Limits.MaxPromptBytes + 1) });
        Assert.Equal(ErrorCode.PromptTooLong, GenerateFails(tooLong));

        var chat = Payload(w => FrameWriter.WriteChat(w, 1, new ChatGenerateRequest
        {
            Messages = [new ChatRequestMessage("user", "x")],
            OutputFormat = OutputFormat.Grammar,
            OutputSpec = "root ::= \"a\"",
        }));
        var chatRequest = MessageReader.ReadChat(chat, Limits).ToRequest();
        Assert.Equal(OutputFormat.Grammar, chatRequest.OutputFormat);
        Assert.Equal("root ::= \"a\"", chatRequest.OutputSpec);
    }
}
