using System.Buffers.Binary;
using ModelRouter.Protocol;
using static ModelRouter.Server.Tests.RawConnection;

namespace ModelRouter.Server.Tests;

/// <summary>One live server for the conformance tests (they open their own connections).</summary>
public sealed class ConformanceServer : IAsyncLifetime
{
    public const int MaxInFlight = 4;
    public const int MaxTokens = 64;
    public const int MaxPromptBytes = 1024;
    public const int MaxFrameBytes = 64 * 1024;

    private TestModels? models;
    private TestServer? server;

    // A fixture cannot skip (xunit reports a skip thrown here as a failure of every test): it remembers why, and each
    // test skips when it asks for the server.
    private string? missing;

    internal TestServer Server => server ?? throw SkipException();

    public async ValueTask InitializeAsync()
    {
        missing = TestModels.MissingReason();
        if (missing is not null)
        {
            return;
        }

        models = TestModels.Create(1);
        server = await TestServer.StartAsync(models, residentModels: 1,
            $"--ModelRouter:Limits:MaxRequestsInFlightPerConnection={MaxInFlight}", $"--ModelRouter:Limits:MaxTokens={MaxTokens}",
            $"--ModelRouter:Limits:MaxPromptBytes={MaxPromptBytes}", $"--ModelRouter:Limits:MaxFrameBytes={MaxFrameBytes}");
    }

    public async ValueTask DisposeAsync()
    {
        if (server is not null)
        {
            await server.DisposeAsync();
        }

        models?.Dispose();
    }

    private InvalidOperationException SkipException()
    {
        Assert.Skip(missing ?? "the conformance server did not start");
        return new InvalidOperationException("unreachable: Assert.Skip throws");
    }
}

/// <summary>
/// docs/protocol.md clause by clause against a live server, over raw bytes (each test is named after its section and
/// clause). What a clause says must happen is checked on the wire: the code, the request id it comes on, whether the
/// connection stays (a ping still answers) or closes.
/// </summary>
public sealed class ConformanceTests(ConformanceServer fixture) : IClassFixture<ConformanceServer>
{
    private const int Timeout = 60_000;

    private TestServer Server => fixture.Server;

    private static byte[] Generate(uint id, string prompt = TestModels.Prompt, int maxTokens = 8, string model = "m0", string capability = "") =>
        Frame(w => FrameWriter.WriteGenerate(w, id, new GenerateRequest
            { Model = model, Prompt = prompt, MaxTokens = maxTokens, Temperature = 0, RequiredCapability = capability }));

    /// <summary>Reads frames until <paramref name="id"/>'s terminal frame; returns it and the frames on that id before it.</summary>
    private static async Task<(ServerFrame Terminal, List<ServerFrame> Before)> TerminalAsync(RawConnection connection, uint id)
    {
        var before = new List<ServerFrame>();
        while (true)
        {
            var frame = await connection.NextAsync() ?? throw new InvalidOperationException($"closed before request {id} ended");
            if (frame.RequestId != id)
            {
                continue;
            }

            if (FrameTypes.IsTerminal(frame.Type))
            {
                return (frame, before);
            }

            before.Add(frame);
        }
    }

    private static async Task AssertFatalAsync(RawConnection connection, ErrorCode code)
    {
        var frames = await connection.ReadUntilClosedAsync();
        var error = Assert.Single(frames, f => f.Type == FrameType.Error && f.RequestId == 0);
        Assert.Equal(code, error.ErrorCode);
        Assert.True(connection.Closed);
    }

    private static async Task AssertErrorAndConnectionStaysAsync(RawConnection connection, uint id, ErrorCode code)
    {
        var (terminal, before) = await TerminalAsync(connection, id);
        Assert.Empty(before);
        Assert.Equal((FrameType.Error, code), (terminal.Type, terminal.ErrorCode));
        Assert.True(terminal.IsFinal);
        Assert.Empty(await connection.PingAsync(99)); // the connection is still usable
    }

    // 1.1 Handshake

    [Fact(Timeout = Timeout)]
    public async Task S1_1_Handshake_hello_ok_is_final_on_id_0_with_version_1_and_the_servers_limits()
    {
        await using var connection = await ConnectAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "c", Token = TestServer.Token })));
        var ok = await connection.NextAsync();
        Assert.NotNull(ok);
        Assert.Equal((FrameType.HelloOk, 0u, true), (ok.Type, ok.RequestId, ok.IsFinal));
        var hello = MessageReader.ReadHelloOk(ok.Payload, ProtocolLimits.Default);
        Assert.Equal((1, false, ConformanceServer.MaxFrameBytes, ConformanceServer.MaxPromptBytes, ConformanceServer.MaxTokens, ConformanceServer.MaxInFlight),
            (hello.Version, hello.IsAdmin, hello.MaxPayloadBytes, hello.MaxPromptBytes, hello.MaxTokens, hello.MaxRequestsInFlight));
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_1_Handshake_the_admin_token_sets_session_flag_admin()
    {
        await using var connection = await ConnectAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "c", Token = TestServer.AdminToken })));
        var ok = await connection.NextAsync();
        Assert.True(MessageReader.ReadHelloOk(ok!.Payload, ProtocolLimits.Default).IsAdmin);
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_1_Handshake_a_wrong_token_is_201_on_id_0_and_the_connection_closes()
    {
        await using var connection = await ConnectAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "c", Token = "wrong" })));
        await AssertFatalAsync(connection, ErrorCode.AuthenticationFailed);
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_1_Handshake_a_max_version_below_1_is_103_and_the_connection_closes()
    {
        await using var connection = await ConnectAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteHello(w, new HelloMessage { MaxVersion = 0, ClientName = "c", Token = TestServer.Token })));
        await AssertFatalAsync(connection, ErrorCode.UnsupportedVersion);
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_1_Handshake_a_malformed_hello_is_100_and_the_connection_closes()
    {
        await using var connection = await ConnectAsync(Server.Endpoint);
        await connection.SendAsync(RawFrame((byte)FrameType.Hello, 0, [1, 0, 0, 0, 9])); // a str length running past the payload
        await AssertFatalAsync(connection, ErrorCode.BadFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_1_Handshake_any_other_frame_before_hello_is_200_on_id_0_and_the_connection_closes()
    {
        await using var connection = await ConnectAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WritePing(w, 1, 5)));
        await AssertFatalAsync(connection, ErrorCode.Unauthenticated);
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_1_Handshake_an_undefined_frame_type_before_hello_is_200_on_id_0_and_the_connection_closes()
    {
        await using var connection = await ConnectAsync(Server.Endpoint);
        await connection.SendAsync(RawFrame(0x7e, 1, []));
        await AssertFatalAsync(connection, ErrorCode.Unauthenticated);
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_1_Handshake_a_payload_above_4_KiB_before_hello_ok_is_fatal_101()
    {
        await using var connection = await ConnectAsync(Server.Endpoint);
        var header = RawFrame((byte)FrameType.Hello, 0, []);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(ProtocolConstants.PayloadLengthOffset), 4 * 1024 + 1);
        await connection.SendAsync(header); // the header alone: the body is never awaited
        await AssertFatalAsync(connection, ErrorCode.FrameTooLarge);
    }

    // 1.2 Requests

    [Fact(Timeout = Timeout)]
    public async Task S1_2_Requests_a_request_on_id_0_is_refused_with_an_error_on_id_0_and_the_connection_closes()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteListModels(w, 0)));
        await AssertFatalAsync(connection, ErrorCode.BadFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_2_Requests_reusing_an_in_flight_id_is_fatal_106_and_the_first_request_still_ends_with_one_terminal_frame()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync([.. Generate(5, maxTokens: ConformanceServer.MaxTokens), .. Frame(w => FrameWriter.WriteGetStats(w, 5))]);
        var frames = await connection.ReadUntilClosedAsync();

        var errors = frames.Where(f => f.Type == FrameType.Error && f.RequestId == 0).ToList();
        Assert.Equal(ErrorCode.DuplicateRequestId, Assert.Single(errors).ErrorCode);
        var terminal = Assert.Single(frames, f => f.RequestId == 5 && FrameTypes.IsTerminal(f.Type));
        Assert.True(terminal.Type is FrameType.Done or FrameType.Error, terminal.ToString()); // the generation's answer, not stats
        Assert.DoesNotContain(frames, f => f.Type == FrameType.Stats);
    }

    // 1.3 Answers

    [Fact(Timeout = Timeout)]
    public async Task S1_3_Answers_every_request_gets_exactly_one_final_terminal_frame_of_its_kind()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync([
            .. Generate(1),
            .. Frame(w => FrameWriter.WriteRoute(w, 2, new RouteRequest { Prompt = "Summarize this." })),
            .. Frame(w => FrameWriter.WriteListModels(w, 3)),
            .. Frame(w => FrameWriter.WriteGetStats(w, 4)),
            .. Frame(w => FrameWriter.WritePing(w, 6, 42)),
        ]);
        var expected = new Dictionary<uint, FrameType>
        {
            [1] = FrameType.Done, [2] = FrameType.RouteResult, [3] = FrameType.ModelList, [4] = FrameType.Stats, [6] = FrameType.Pong,
        };
        var seen = new Dictionary<uint, FrameType>();
        while (seen.Count < expected.Count)
        {
            var frame = await connection.NextAsync() ?? throw new InvalidOperationException("closed");
            if (frame.Type == FrameType.TokenChunk)
            {
                Assert.Equal(1u, frame.RequestId);
                Assert.False(frame.IsFinal);
                Assert.DoesNotContain(1u, seen.Keys); // no chunk after the done frame
                continue;
            }

            Assert.True(frame.IsFinal, frame.ToString());
            Assert.True(seen.TryAdd(frame.RequestId, frame.Type), $"a second terminal frame for {frame.RequestId}");
        }

        Assert.Equal(expected, seen);
        Assert.Empty(await connection.PingAsync(7)); // and nothing more for any of them
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_3_Answers_after_its_terminal_frame_an_id_is_free_again()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        for (var round = 0; round < 3; round++)
        {
            await connection.SendAsync(Generate(9, maxTokens: 4));
            var (terminal, _) = await TerminalAsync(connection, 9);
            Assert.Equal(FrameType.Done, terminal.Type);
        }
    }

    // 1.4 Cancel

    [Fact(Timeout = Timeout)]
    public async Task S1_4_Cancel_is_never_answered_and_the_request_ends_with_one_terminal_frame_cancelled()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync([.. Generate(3, maxTokens: ConformanceServer.MaxTokens), .. Frame(w => FrameWriter.WriteCancel(w, 3))]);
        var (terminal, _) = await TerminalAsync(connection, 3);
        if (terminal.Type == FrameType.Done)
        {
            var done = MessageReader.ReadDone(terminal.Payload, ProtocolLimits.Default);
            Assert.True(done.Stats.FinishReason is FinishReason.Cancelled or FinishReason.MaxTokens or FinishReason.EndOfText);
        }
        else
        {
            Assert.Equal(ErrorCode.Cancelled, terminal.ErrorCode);
        }

        Assert.DoesNotContain(await connection.PingAsync(1), f => f.RequestId == 3);
    }

    [Fact(Timeout = Timeout)]
    public async Task S1_4_Cancel_of_an_unknown_id_is_ignored()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteCancel(w, 12345)));
        Assert.Empty(await connection.PingAsync(1));
    }

    // 1.5 Requests in flight

    [Fact(Timeout = Timeout)]
    public async Task S1_5_Requests_in_flight_one_more_than_the_limit_is_203_on_its_id()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var frames = new List<byte>();
        for (uint id = 1; id <= ConformanceServer.MaxInFlight + 1; id++)
        {
            frames.AddRange(Generate(id, maxTokens: ConformanceServer.MaxTokens));
        }

        await connection.SendAsync(frames.ToArray());
        var (terminal, _) = await TerminalAsync(connection, ConformanceServer.MaxInFlight + 1);
        Assert.Equal(ErrorCode.TooManyRequestsInFlight, terminal.ErrorCode);
    }

    // 1.7 Ping

    [Fact(Timeout = Timeout)]
    public async Task S1_7_Ping_is_answered_by_a_final_pong_echoing_its_id_and_value()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WritePing(w, 77, 0x0102030405060708)));
        var pong = await connection.NextAsync();
        Assert.Equal((FrameType.Pong, 77u, true, 0x0102030405060708UL), (pong!.Type, pong.RequestId, pong.IsFinal, MessageReader.ReadPing(pong.Payload)));
    }

    // 1.8 Closing

    [Fact(Timeout = Timeout)]
    public async Task S1_8_Closing_a_client_that_leaves_has_its_requests_cancelled_and_their_slots_freed()
    {
        var pipeline = Server.Listener.Context.Pipeline;
        await using (var connection = await OpenAsync(Server.Endpoint))
        {
            await connection.SendAsync([.. Generate(1, maxTokens: ConformanceServer.MaxTokens), .. Generate(2, maxTokens: ConformanceServer.MaxTokens)]);
            await connection.NextAsync(); // something started
        }

        await WaitUntilAsync(() => pipeline.RequestsInFlight == 0, "the server freed the requests of the client that left");
    }

    // 2. Frame header

    [Fact(Timeout = Timeout)]
    public async Task S2_Header_bad_magic_is_fatal_100()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var frame = Frame(w => FrameWriter.WritePing(w, 1, 1));
        frame[0] = (byte)'X';
        await connection.SendAsync(frame);
        await AssertFatalAsync(connection, ErrorCode.BadFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S2_Header_another_version_is_fatal_103()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var frame = Frame(w => FrameWriter.WritePing(w, 1, 1));
        frame[ProtocolConstants.VersionOffset] = 2;
        await connection.SendAsync(frame);
        await AssertFatalAsync(connection, ErrorCode.UnsupportedVersion);
    }

    [Fact(Timeout = Timeout)]
    public async Task S2_Header_an_undefined_type_is_102_on_its_id_the_frame_skipped_and_the_connection_kept()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(RawFrame(0x7e, 31, [1, 2, 3, 4, 5]));
        await AssertErrorAndConnectionStaysAsync(connection, 31, ErrorCode.UnknownFrameType);
    }

    [Fact(Timeout = Timeout)]
    public async Task S2_Header_undefined_flag_bits_are_fatal_100()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(RawFrame((byte)FrameType.ListModels, 1, [], flags: 0x0100));
        await AssertFatalAsync(connection, ErrorCode.BadFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S2_Header_non_zero_reserved_bytes_are_fatal_100()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var frame = RawFrame((byte)FrameType.ListModels, 1, []);
        frame[ProtocolConstants.ReservedOffset] = 1;
        await connection.SendAsync(frame);
        await AssertFatalAsync(connection, ErrorCode.BadFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S2_Header_a_payload_length_above_max_payload_is_fatal_101_from_the_header_alone()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var header = RawFrame((byte)FrameType.Generate, 1, []);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(ProtocolConstants.PayloadLengthOffset), ConformanceServer.MaxFrameBytes + 1);
        await connection.SendAsync(header);
        await AssertFatalAsync(connection, ErrorCode.FrameTooLarge);
    }

    // 3. Frame types

    [Fact(Timeout = Timeout)]
    public async Task S3_Frame_types_a_server_to_client_type_from_a_client_is_105_on_its_id()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteError(w, 8, ErrorCode.Internal, "from a client")));
        await AssertErrorAndConnectionStaysAsync(connection, 8, ErrorCode.UnexpectedFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S3_Frame_types_a_second_hello_is_105_and_the_connection_closes()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "again", Token = TestServer.Token })));
        await AssertFatalAsync(connection, ErrorCode.UnexpectedFrame);
    }

    // 4. Encoding rules

    [Fact(Timeout = Timeout)]
    public async Task S4_Encoding_a_truncated_payload_is_100_for_that_request_and_the_connection_stays()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var whole = Generate(4);
        await connection.SendAsync(RawFrame((byte)FrameType.Generate, 4, whole.AsSpan(ProtocolConstants.HeaderSize, whole.Length - ProtocolConstants.HeaderSize - 1)));
        await AssertErrorAndConnectionStaysAsync(connection, 4, ErrorCode.BadFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S4_Encoding_extra_trailing_bytes_are_100_for_that_request()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var whole = Generate(4);
        await connection.SendAsync(RawFrame((byte)FrameType.Generate, 4, [.. whole.AsSpan(ProtocolConstants.HeaderSize), 0]));
        await AssertErrorAndConnectionStaysAsync(connection, 4, ErrorCode.BadFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S4_Encoding_invalid_utf8_is_104_for_that_request()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var frame = Generate(4, prompt: "abcd");
        frame[^1] = 0xff; // the last byte of the prompt (no stop sequences follow)
        await connection.SendAsync(frame);
        await AssertErrorAndConnectionStaysAsync(connection, 4, ErrorCode.InvalidUtf8);
    }

    [Fact(Timeout = Timeout)]
    public async Task S4_Encoding_an_out_of_range_request_field_is_300_for_that_request()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var frame = Generate(4);
        frame[ProtocolConstants.HeaderSize + 28] = 9; // latency class: a value, not framing
        await connection.SendAsync(frame);
        await AssertErrorAndConnectionStaysAsync(connection, 4, ErrorCode.InvalidArgument);
    }

    [Fact(Timeout = Timeout)]
    public async Task S4_Encoding_an_undefined_payload_flag_bit_is_100_for_that_request()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var frame = Frame(w => FrameWriter.WriteEmbed(w, 4, new EmbedRequest { Model = "m0", Text = "hello" }));
        frame[ProtocolConstants.HeaderSize] = 0x80; // embed flags: only bit 0 is defined
        await connection.SendAsync(frame);
        await AssertErrorAndConnectionStaysAsync(connection, 4, ErrorCode.BadFrame);
    }

    [Fact(Timeout = Timeout)]
    public async Task S4_Encoding_non_zero_reserved_payload_bytes_are_100_for_that_request()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        var frame = Generate(4);
        frame[ProtocolConstants.HeaderSize + 31] = 0x02; // an undefined request flag (byte 31: bit 0 is 'forwarded', the rest is reserved)
        await connection.SendAsync(frame);
        await AssertErrorAndConnectionStaysAsync(connection, 4, ErrorCode.BadFrame);
    }

    // 5. Payloads and 6. Error codes

    [Fact(Timeout = Timeout)]
    public async Task S5_Generate_an_empty_prompt_is_300()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Generate(2, prompt: ""));
        await AssertErrorAndConnectionStaysAsync(connection, 2, ErrorCode.InvalidArgument);
    }

    [Fact(Timeout = Timeout)]
    public async Task S5_Generate_a_prompt_above_max_prompt_bytes_is_302()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Generate(2, prompt: new string('a', ConformanceServer.MaxPromptBytes + 1)));
        await AssertErrorAndConnectionStaysAsync(connection, 2, ErrorCode.PromptTooLong);
    }

    [Fact(Timeout = Timeout)]
    public async Task S5_Generate_max_tokens_above_the_limit_is_303()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Generate(2, maxTokens: ConformanceServer.MaxTokens + 1));
        await AssertErrorAndConnectionStaysAsync(connection, 2, ErrorCode.MaxTokensExceeded);
    }

    [Fact(Timeout = Timeout)]
    public async Task S5_Generate_an_unknown_model_is_301()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Generate(2, model: "no-such-model"));
        await AssertErrorAndConnectionStaysAsync(connection, 2, ErrorCode.UnknownModel);
    }

    [Fact(Timeout = Timeout)]
    public async Task S5_Generate_a_capability_no_model_has_is_304_no_route_matched()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Generate(2, model: "", capability: "no-such-capability"));
        await AssertErrorAndConnectionStaysAsync(connection, 2, ErrorCode.NoRouteMatched);
    }

    [Fact(Timeout = Timeout)]
    public async Task S5_Route_a_capability_no_model_has_is_304_no_route_matched()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteRoute(w, 2, new RouteRequest { Prompt = "hi", RequiredCapability = "no-such-capability" })));
        await AssertErrorAndConnectionStaysAsync(connection, 2, ErrorCode.NoRouteMatched);
    }

    [Fact(Timeout = Timeout)]
    public async Task S5_Chat_an_unknown_role_is_300()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteChat(w, 2, new ChatGenerateRequest
            { Model = "m0", MaxTokens = 4, Messages = [new("robot", "hi")] })));
        await AssertErrorAndConnectionStaysAsync(connection, 2, ErrorCode.InvalidArgument);
    }

    [Fact(Timeout = Timeout)]
    public async Task S5_Admin_on_a_session_without_the_admin_token_is_202()
    {
        await using var connection = await OpenAsync(Server.Endpoint);
        await connection.SendAsync(Frame(w => FrameWriter.WriteAdmin(w, 2, AdminOperation.Pin, "m0")));
        await AssertErrorAndConnectionStaysAsync(connection, 2, ErrorCode.AdminRequired);
    }

    [Fact(Timeout = Timeout)]
    public async Task S5_Admin_an_unknown_operation_is_300()
    {
        await using var connection = await OpenAsync(Server.Endpoint, TestServer.AdminToken);
        var frame = Frame(w => FrameWriter.WriteAdmin(w, 2, AdminOperation.Pin, "m0"));
        frame[ProtocolConstants.HeaderSize] = 200;
        await connection.SendAsync(frame);
        var (terminal, _) = await TerminalAsync(connection, 2);
        Assert.True(terminal.ErrorCode is ErrorCode.InvalidArgument or ErrorCode.BadFrame, terminal.ToString());
    }
}
