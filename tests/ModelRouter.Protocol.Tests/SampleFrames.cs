using System.Buffers;
using System.Text;

namespace ModelRouter.Protocol.Tests;

/// <summary>One frame of each message kind, with the checks that it decodes to what was written.</summary>
public sealed record SampleFrame(string Name, FrameType Type, uint RequestId, Action<IBufferWriter<byte>> Write, Action<ReadOnlySpan<byte>> Verify)
{
    public byte[] Encode()
    {
        var output = new ArrayBufferWriter<byte>();
        Write(output);
        return output.WrittenSpan.ToArray();
    }

    public override string ToString() => Name;
}

public static class SampleFrames
{
    public static readonly ProtocolLimits Limits = ProtocolLimits.Default;

    public static readonly GenerateRequest Generate = new()
    {
        Prompt = "Write a haiku about PCIe.",
        MaxTokens = 64,
        Temperature = 0.7f,
        TopP = 0.9f,
        TopK = 40,
        Seed = 42,
        LatencyClass = LatencyClass.Interactive,
        CostBudget = 2.5f,
        RequiredCapability = "chat",
        StopSequences = ["\n\n"],
    };

    public static readonly GenerateRequest GenerateGrammar = new()
    {
        Model = "tiny",
        Prompt = "Yes or no?",
        MaxTokens = 8,
        Temperature = 0,
        TopP = 0,
        OutputFormat = OutputFormat.Grammar,
        OutputSpec = "root ::= \"yes\" | \"no\"",
    };

    public static readonly GenerateRequest GenerateNamed = new()
    {
        Model = "qwen-coder-1.5b",
        Prompt = "fn main() {",
        MaxTokens = 16,
        Temperature = 0,
        TopP = 0,
    };

    public static readonly ChatGenerateRequest Chat = new()
    {
        Messages =
        [
            new(ChatRoles.System, "Be brief."),
            new(ChatRoles.User, "Hi"),
            new(ChatRoles.Assistant, "Hello!"),
            new(ChatRoles.User, "What is PCIe?"),
        ],
        MaxTokens = 128,
        Temperature = 0.5f,
        TopP = 0.9f,
        TopK = 20,
        Seed = 7,
        LatencyClass = LatencyClass.Interactive,
        CostBudget = 1,
        StopSequences = ["User:"],
    };

    public static readonly GenerationStats Stats = new()
    {
        FinishReason = FinishReason.MaxTokens,
        PromptTokens = 9,
        GeneratedTokens = 64,
        TokensPerSecond = 412.5f,
        RouteNanos = 3_250,
        QueueWaitNanos = 1_500_000,
        SwapNanos = 38_000_000,
        TimeToFirstTokenNanos = 45_000_000,
        TotalNanos = 200_000_000,
    };

    public static readonly RouteDecision Decision = new()
    {
        Model = "llama-3.2-1b",
        TaskType = "chat",
        Reason = "hybrid: capability chat, cheapest resident",
        Confidence = 0.875f,
        Tier = ModelTier.Host,
        RouteNanos = 2_900,
        Fallbacks = ["qwen-0.5b", "local-tiny"],
    };

    /// <summary>A version 2 session's done: the encoder (stage 2) named the task with confidence 0.6 (39321 / 65535).</summary>
    public static readonly GenerationStats StagedStats = Stats with { Stage = RouteStage.Encoder, StageConfidence = 0.6f };

    /// <summary>A version 2 session's route result: the encoder decided.</summary>
    public static readonly RouteDecision StagedDecision = new()
    {
        Model = "qwen-coder",
        TaskType = "code",
        Reason = "stage encoder (0.60)",
        Confidence = 0.6f,
        Stage = RouteStage.Encoder,
        Tier = ModelTier.Gpu,
        RouteNanos = 850_000,
    };

    public static readonly ModelInfo[] Models =
    [
        new()
        {
            Name = "llama-3.2-1b", Tier = ModelTier.Gpu, State = ModelState.Ready, LatencyClass = LatencyClass.Interactive,
            Flags = ModelFlags.Pinned, WeightBytes = 1_300_000_000, Cost = 1, InFlight = 2, Queued = 1, Capabilities = ["chat", "summarize"],
        },
        new()
        {
            Name = "embed-small", Tier = ModelTier.Host, State = ModelState.Unloaded, LatencyClass = LatencyClass.Batch,
            Flags = ModelFlags.Embeddings, WeightBytes = 90_000_000, Cost = 0.1f, Capabilities = ["embed"],
        },
    ];

    public static readonly ServerStats ServerStats = new()
    {
        UptimeNanos = 3_600_000_000_000,
        Connections = 3,
        InFlight = 5,
        Queued = 7,
        ResidentModels = 2,
        RequestsTotal = 1234,
        TokensGenerated = 98765,
        SwapsTotal = 42,
        ErrorsTotal = 1,
        GpuBytesUsed = 6L << 30,
        GpuBytesTotal = 80L << 30,
        HostBytesUsed = 20L << 30,
        GpuIdleShare = 0.25f,
        Extra = [new("swap_p99_ms", 41.5)],
    };

    public static readonly float[] Vector = [0.5f, -0.25f, 0.125f, 1f];

    /// <summary>Every message kind; the names are the ones used by the example blocks of docs/protocol.md.</summary>
    public static IReadOnlyList<SampleFrame> All { get; } =
    [
        new("hello", FrameType.Hello, 0,
            w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "demo/1.0", Token = "s3cret" }),
            p =>
            {
                var hello = MessageReader.ReadHello(p, Limits);
                Assert.Equal(1, hello.MaxVersion);
                Assert.Equal("demo/1.0", hello.ClientName);
                Assert.Equal("s3cret", hello.Token);
            }),
        new("hello-ok", FrameType.HelloOk, 0,
            w => FrameWriter.WriteHelloOk(w, ServerHello.FromLimits(ProtocolLimits.Default, isAdmin: false, connectionId: 7, serverName: "ModelRouter.Native/0.1")),
            p =>
            {
                var hello = MessageReader.ReadHelloOk(p, Limits);
                Assert.Equal(1, hello.Version);
                Assert.False(hello.IsAdmin);
                Assert.Equal(ProtocolLimits.DefaultMaxPayloadBytes, hello.MaxPayloadBytes);
                Assert.Equal(ProtocolLimits.DefaultMaxPromptBytes, hello.MaxPromptBytes);
                Assert.Equal(ProtocolLimits.DefaultMaxTokens, hello.MaxTokens);
                Assert.Equal(ProtocolLimits.DefaultMaxRequestsInFlight, hello.MaxRequestsInFlight);
                Assert.Equal(7UL, hello.ConnectionId);
                Assert.Equal("ModelRouter.Native/0.1", hello.ServerName);
            }),
        new("ping", FrameType.Ping, 9,
            w => FrameWriter.WritePing(w, 9, 0x0102030405060708),
            p => Assert.Equal(0x0102030405060708UL, MessageReader.ReadPing(p))),
        new("pong", FrameType.Pong, 9,
            w => FrameWriter.WritePong(w, 9, 0x0102030405060708),
            p => Assert.Equal(0x0102030405060708UL, MessageReader.ReadPing(p))),
        new("go-away", FrameType.GoAway, 0,
            w => FrameWriter.WriteGoAway(w, "shutting down"),
            p => Assert.Equal("shutting down", Encoding.UTF8.GetString(MessageReader.ReadGoAway(p)))),
        new("generate-routed", FrameType.Generate, 1,
            w => FrameWriter.WriteGenerate(w, 1, Generate),
            p =>
            {
                var g = MessageReader.ReadGenerate(p, Limits);
                Assert.True(g.IsRouted);
                Assert.Equal(64, g.MaxTokens);
                Assert.Equal(40, g.TopK);
                Assert.Equal(0.7f, g.Temperature);
                Assert.Equal(0.9f, g.TopP);
                Assert.Equal(42UL, g.Seed);
                Assert.Equal(2.5f, g.CostBudget);
                Assert.Equal(LatencyClass.Interactive, g.LatencyClass);
                Assert.Equal("chat", Encoding.UTF8.GetString(g.RequiredCapability));
                Assert.Equal("Write a haiku about PCIe.", Encoding.UTF8.GetString(g.Prompt));
                Assert.Equal(1, g.StopSequenceCount);
                var request = g.ToRequest();
                Assert.Null(request.Model);
                Assert.Equal(new[] { "\n\n" }, request.StopSequences);
            }),
        new("generate-named", FrameType.Generate, 2,
            w => FrameWriter.WriteGenerate(w, 2, GenerateNamed),
            p =>
            {
                var request = MessageReader.ReadGenerate(p, Limits).ToRequest();
                Assert.Equal("qwen-coder-1.5b", request.Model);
                Assert.Equal("fn main() {", request.Prompt);
                Assert.Equal(16, request.MaxTokens);
                Assert.Equal(0f, request.Temperature);
                Assert.Null(request.RequiredCapability);
                Assert.Empty(request.StopSequences);
                Assert.Equal(LatencyClass.Unspecified, request.LatencyClass);
            }),
        new("generate-grammar", FrameType.Generate, 13,
            w => FrameWriter.WriteGenerate(w, 13, GenerateGrammar),
            p =>
            {
                var g = MessageReader.ReadGenerate(p, Limits);
                Assert.Equal(OutputFormat.Grammar, g.OutputFormat);
                Assert.Equal("root ::= \"yes\" | \"no\"", Encoding.UTF8.GetString(g.OutputSpec));
                var request = g.ToRequest();
                Assert.Equal("tiny", request.Model);
                Assert.Equal("Yes or no?", request.Prompt);
                Assert.Equal(8, request.MaxTokens);
                Assert.Equal(OutputFormat.Grammar, request.OutputFormat);
                Assert.Equal("root ::= \"yes\" | \"no\"", request.OutputSpec);
            }),
        new("generate-forwarded", FrameType.Generate, 14,
            w => FrameWriter.WriteGenerate(w, 14, new GenerateRequest { Prompt = "fn main() {", Model = "qwen-coder-1.5b", MaxTokens = 16, Forwarded = true }),
            p =>
            {
                var payload = MessageReader.ReadGenerate(p, Limits);
                Assert.True(payload.Forwarded);
                Assert.Equal(ProtocolConstants.RequestFlagForwarded, p[31]);
                Assert.True(payload.ToRequest().Forwarded);
                Assert.Equal("qwen-coder-1.5b", payload.ToRequest().Model);
            }),
        new("route", FrameType.Route, 3,
            w => FrameWriter.WriteRoute(w, 3, new RouteRequest { Prompt = "Summarize this.", LatencyClass = LatencyClass.Realtime, CostBudget = 1 }),
            p =>
            {
                var request = MessageReader.ReadRoute(p, Limits).ToRequest();
                Assert.Equal("Summarize this.", request.Prompt);
                Assert.Equal(LatencyClass.Realtime, request.LatencyClass);
                Assert.Equal(1f, request.CostBudget);
                Assert.Null(request.RequiredCapability);
            }),
        new("embed", FrameType.Embed, 4,
            w => FrameWriter.WriteEmbed(w, 4, new EmbedRequest { Text = "héllo", Model = "embed-small" }),
            p =>
            {
                var request = MessageReader.ReadEmbed(p, Limits).ToRequest();
                Assert.Equal("héllo", request.Text);
                Assert.Equal("embed-small", request.Model);
                Assert.True(request.Normalize);
            }),
        new("cancel", FrameType.Cancel, 1,
            w => FrameWriter.WriteCancel(w, 1),
            p => MessageReader.ReadEmpty(p)),
        new("list-models", FrameType.ListModels, 5,
            w => FrameWriter.WriteListModels(w, 5),
            p => MessageReader.ReadEmpty(p)),
        new("get-stats", FrameType.GetStats, 6,
            w => FrameWriter.WriteGetStats(w, 6),
            p => MessageReader.ReadEmpty(p)),
        new("admin", FrameType.Admin, 7,
            w => FrameWriter.WriteAdmin(w, 7, AdminOperation.Pin, "llama-3.2-1b"),
            p =>
            {
                var admin = MessageReader.ReadAdmin(p, Limits);
                Assert.Equal(AdminOperation.Pin, admin.Operation);
                Assert.Equal("llama-3.2-1b", admin.GetModel());
            }),
        new("chat", FrameType.Chat, 10,
            w => FrameWriter.WriteChat(w, 10, Chat),
            p =>
            {
                var c = MessageReader.ReadChat(p, Limits);
                Assert.True(c.IsRouted);
                Assert.Equal(128, c.MaxTokens);
                Assert.Equal(20, c.TopK);
                Assert.Equal(0.5f, c.Temperature);
                Assert.Equal(0.9f, c.TopP);
                Assert.Equal(7UL, c.Seed);
                Assert.Equal(1f, c.CostBudget);
                Assert.Equal(LatencyClass.Interactive, c.LatencyClass);
                Assert.True(c.RequiredCapability.IsEmpty);
                Assert.Equal(4, c.MessageCount);
                Assert.Equal("Be brief.HiHello!What is PCIe?".Length, c.ContentBytes);
                Assert.Equal(1, c.StopSequenceCount);
                var request = c.ToRequest();
                Assert.Null(request.Model);
                Assert.Null(request.RequiredCapability);
                Assert.Equal(Chat.Messages, request.Messages);
                Assert.Same(ChatRoles.Assistant, request.Messages[2].Role); // roles come back as the constants
                Assert.Equal(new[] { "User:" }, request.StopSequences);
            }),
        new("token-chunk", FrameType.TokenChunk, 1,
            w => FrameWriter.WriteTokenChunk(w, 1, "Lanes"u8, 1),
            p =>
            {
                var chunk = MessageReader.ReadTokenChunk(p);
                Assert.Equal(1, chunk.TokenCount);
                Assert.Equal("Lanes", chunk.GetText());
            }),
        new("token-chunk-text", FrameType.TokenChunk, 1,
            w => FrameWriter.WriteTokenChunk(w, 1, " ☃ snow".AsSpan(), 3),
            p =>
            {
                var chunk = MessageReader.ReadTokenChunk(p);
                Assert.Equal(3, chunk.TokenCount);
                Assert.Equal(" ☃ snow", chunk.GetText());
            }),
        new("done", FrameType.Done, 1,
            w => FrameWriter.WriteDone(w, 1, Stats, "llama-3.2-1b", "chat"),
            p =>
            {
                var done = MessageReader.ReadDone(p, Limits);
                Assert.Equal(Stats, done.Stats);
                Assert.Equal("llama-3.2-1b", Encoding.UTF8.GetString(done.Model));
                Assert.Equal("chat", Encoding.UTF8.GetString(done.TaskType));
            }),
        new("route-result", FrameType.RouteResult, 3,
            w => FrameWriter.WriteRouteResult(w, 3, Decision),
            p =>
            {
                var decision = MessageReader.ReadRouteResult(p, Limits);
                Assert.Equal(Decision.Model, decision.Model);
                Assert.Equal(Decision.TaskType, decision.TaskType);
                Assert.Equal(Decision.Reason, decision.Reason);
                Assert.Equal(Decision.Confidence, decision.Confidence);
                Assert.Equal(Decision.Tier, decision.Tier);
                Assert.Equal(Decision.RouteNanos, decision.RouteNanos);
                Assert.Equal(Decision.Fallbacks, decision.Fallbacks);
                Assert.Equal(RouteStage.None, decision.Stage);
            }),
        new("done-staged", FrameType.Done, 11,
            w => FrameWriter.WriteDone(w, 11, StagedStats, "qwen-coder", "code"),
            p =>
            {
                var done = MessageReader.ReadDone(p, Limits);
                Assert.Equal(StagedStats, done.Stats);
                Assert.Equal(RouteStage.Encoder, done.Stats.Stage);
                Assert.Equal(0.6f, done.Stats.StageConfidence);
                Assert.Equal("qwen-coder", Encoding.UTF8.GetString(done.Model));
                Assert.Equal("code", Encoding.UTF8.GetString(done.TaskType));
            }),
        new("done-cached", FrameType.Done, 13,
            w => FrameWriter.WriteDone(w, 13, Stats with { CachedPromptTokens = 8 }, "llama-3.2-1b", "chat", withCachedTokens: true),
            p =>
            {
                var done = MessageReader.ReadDone(p, Limits);
                Assert.Equal(Stats with { CachedPromptTokens = 8 }, done.Stats);
                Assert.Equal("chat", Encoding.UTF8.GetString(done.TaskType));
                Assert.True(done.Node.IsEmpty); // a version 3 frame names no node
            }),
        new("done-node", FrameType.Done, 16,
            w => FrameWriter.WriteDone(w, 16, Stats with { CachedPromptTokens = 8 }, "llama-3.2-1b", "chat", withCachedTokens: true, withNode: true, node: "gpu-box-2", placement: "OnDevice"),
            p =>
            {
                var done = MessageReader.ReadDone(p, Limits);
                Assert.Equal(Stats with { CachedPromptTokens = 8 }, done.Stats);
                Assert.Equal("chat", Encoding.UTF8.GetString(done.TaskType));
                Assert.Equal("gpu-box-2", Encoding.UTF8.GetString(done.Node));
                Assert.Equal("OnDevice", Encoding.UTF8.GetString(done.Placement));
            }),
        new("route-result-staged", FrameType.RouteResult, 12,
            w => FrameWriter.WriteRouteResult(w, 12, StagedDecision),
            p =>
            {
                var decision = MessageReader.ReadRouteResult(p, Limits);
                Assert.Equal(StagedDecision.Model, decision.Model);
                Assert.Equal(StagedDecision.TaskType, decision.TaskType);
                Assert.Equal(StagedDecision.Reason, decision.Reason);
                Assert.Equal(0.6f, decision.Confidence);
                Assert.Equal(RouteStage.Encoder, decision.Stage);
                Assert.Equal(ModelTier.Gpu, decision.Tier);
                Assert.Equal(850_000, decision.RouteNanos);
                Assert.Empty(decision.Fallbacks);
            }),
        new("embed-result", FrameType.EmbedResult, 4,
            w => FrameWriter.WriteEmbedResult(w, 4, "embed-small", Vector, 3),
            p =>
            {
                var result = MessageReader.ReadEmbedResult(p, Limits).ToResult();
                Assert.Equal("embed-small", result.Model);
                Assert.Equal(3, result.PromptTokens);
                Assert.Equal(Vector, result.Vector);
            }),
        new("model-list", FrameType.ModelList, 5,
            w => FrameWriter.WriteModelList(w, 5, Models),
            p =>
            {
                var models = MessageReader.ReadModelList(p, Limits);
                Assert.Equal(Models.Length, models.Length);
                for (var i = 0; i < models.Length; i++)
                {
                    Assert.Equal(Models[i].Name, models[i].Name);
                    Assert.Equal(Models[i].Tier, models[i].Tier);
                    Assert.Equal(Models[i].State, models[i].State);
                    Assert.Equal(Models[i].LatencyClass, models[i].LatencyClass);
                    Assert.Equal(Models[i].Flags, models[i].Flags);
                    Assert.Equal(Models[i].WeightBytes, models[i].WeightBytes);
                    Assert.Equal(Models[i].Cost, models[i].Cost);
                    Assert.Equal(Models[i].InFlight, models[i].InFlight);
                    Assert.Equal(Models[i].Queued, models[i].Queued);
                    Assert.Equal(Models[i].Capabilities, models[i].Capabilities);
                }
            }),
        new("stats", FrameType.Stats, 6,
            w => FrameWriter.WriteStats(w, 6, ServerStats),
            p =>
            {
                var stats = MessageReader.ReadStats(p, Limits);
                Assert.Equal(ServerStats.UptimeNanos, stats.UptimeNanos);
                Assert.Equal(ServerStats.Connections, stats.Connections);
                Assert.Equal(ServerStats.InFlight, stats.InFlight);
                Assert.Equal(ServerStats.Queued, stats.Queued);
                Assert.Equal(ServerStats.ResidentModels, stats.ResidentModels);
                Assert.Equal(ServerStats.RequestsTotal, stats.RequestsTotal);
                Assert.Equal(ServerStats.TokensGenerated, stats.TokensGenerated);
                Assert.Equal(ServerStats.SwapsTotal, stats.SwapsTotal);
                Assert.Equal(ServerStats.ErrorsTotal, stats.ErrorsTotal);
                Assert.Equal(ServerStats.GpuBytesUsed, stats.GpuBytesUsed);
                Assert.Equal(ServerStats.GpuBytesTotal, stats.GpuBytesTotal);
                Assert.Equal(ServerStats.HostBytesUsed, stats.HostBytesUsed);
                Assert.Equal(ServerStats.GpuIdleShare, stats.GpuIdleShare);
                Assert.Equal(ServerStats.Extra, stats.Extra);
            }),
        new("admin-result", FrameType.AdminResult, 7,
            w => FrameWriter.WriteAdminResult(w, 7, new AdminResult
            {
                Operation = AdminOperation.Pin, Model = "llama-3.2-1b", Tier = ModelTier.Gpu, State = ModelState.Ready, ElapsedNanos = 12_000, Message = "pinned",
            }),
            p =>
            {
                var result = MessageReader.ReadAdminResult(p, Limits);
                Assert.Equal(AdminOperation.Pin, result.Operation);
                Assert.Equal("llama-3.2-1b", result.Model);
                Assert.Equal(ModelTier.Gpu, result.Tier);
                Assert.Equal(ModelState.Ready, result.State);
                Assert.Equal(12_000, result.ElapsedNanos);
                Assert.Equal("pinned", result.Message);
            }),
        new("error", FrameType.Error, 2,
            w => FrameWriter.WriteError(w, 2, ErrorCode.UnknownModel, "no model named 'gpt-5'"),
            p =>
            {
                var error = MessageReader.ReadError(p);
                Assert.Equal(ErrorCode.UnknownModel, error.Code);
                Assert.Equal("no model named 'gpt-5'", error.GetMessage());
            }),
    ];

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var sample in All)
        {
            data.Add(sample.Name);
        }

        return data;
    }

    public static SampleFrame Get(string name) => All.Single(s => s.Name == name);
}
