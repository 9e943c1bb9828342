using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Routing.Decisions;
using ModelRouter.Routing.Policies;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Tests.Routing;

/// <summary>The live cascade: stage 1 → stage 2 → LLM judge → default, its counters, and the stage on the HTTP wire.</summary>
public sealed class CascadeTests
{
    private static readonly string[] Routes = ["code", "math"];

    [Fact]
    public async Task A_sure_stage_1_decides_and_nothing_after_it_runs()
    {
        var stage2 = new FakeStage("math", 0.9f, unsure: false);
        var judge = new FakeJudge(1);
        var cascade = new RouteCascade(new FakeStage("code", 0.8f, unsure: false), stage2, judge, Routes);

        var decision = await cascade.DecideAsync("write a function", TestContext.Current.CancellationToken);

        Assert.Equal(new CascadeDecision("code", 0.8f, CascadeStage.Classifier, null), decision);
        Assert.Equal(0, stage2.Calls);
        Assert.Equal(0, judge.Calls);
    }

    [Fact]
    public async Task An_unsure_stage_1_passes_to_stage_2_which_decides_when_sure()
    {
        var judge = new FakeJudge(0);
        var cascade = new RouteCascade(new FakeStage("code", 0.3f, unsure: true), new FakeStage("math", 0.9f, unsure: false), judge, Routes);

        var decision = await cascade.DecideAsync("x", TestContext.Current.CancellationToken);

        Assert.Equal(CascadeStage.Encoder, decision.Stage);
        Assert.Equal("math", decision.Task);
        Assert.Equal(0.9f, decision.Confidence);
        Assert.Equal(0, judge.Calls);
    }

    [Fact]
    public async Task When_both_stages_are_unsure_the_judge_decides()
    {
        var judge = new FakeJudge(1);
        var cascade = new RouteCascade(new FakeStage("code", 0.3f, unsure: true), new FakeStage("code", 0.4f, unsure: true), judge, Routes);

        var decision = await cascade.DecideAsync("x", TestContext.Current.CancellationToken);

        Assert.Equal(new CascadeDecision("math", 1f, CascadeStage.Judge, null), decision);
        Assert.Equal(1, judge.Calls);
        Assert.Equal(Routes, judge.LastRoutes);
    }

    [Fact]
    public async Task When_every_stage_passes_the_default_says_why_stage_by_stage()
    {
        var cascade = new RouteCascade(new FakeStage("code", 0.31f, unsure: true), new FakeStage("math", 0.42f, unsure: true), new FakeJudge(null), Routes);

        var decision = await cascade.DecideAsync("x", TestContext.Current.CancellationToken);

        Assert.Equal(CascadeStage.Default, decision.Stage);
        Assert.True(decision.Unsure);
        Assert.Equal("classifier unsure (code at 0.31), encoder unsure (math at 0.42), judge gave no usable answer", decision.Why);
    }

    [Fact]
    public async Task A_failing_stage_2_or_judge_never_fails_the_request()
    {
        var cascade = new RouteCascade(new FakeStage("code", 0.2f, unsure: true), new ThrowingStage(), new ThrowingJudge(), Routes);

        var decision = await cascade.DecideAsync("x", TestContext.Current.CancellationToken);

        Assert.Equal(CascadeStage.Default, decision.Stage);
        Assert.Contains("encoder failed (InvalidOperationException: encoder broke)", decision.Why, StringComparison.Ordinal);
        Assert.Contains("judge failed (InvalidOperationException: judge broke)", decision.Why, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_judge_past_its_timeout_sends_the_request_to_the_default()
    {
        // The judge never answers on its own: only the cascade's timeout can end the wait.
        var cascade = new RouteCascade(new FakeStage("code", 0.2f, unsure: true), null, new SilentJudge(), Routes, TimeSpan.FromMilliseconds(20));

        var decision = await cascade.DecideAsync("x", TestContext.Current.CancellationToken);

        Assert.Equal(CascadeStage.Default, decision.Stage);
        Assert.EndsWith("judge timed out after 20 ms", decision.Why, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Per_stage_counters_move_in_the_cascade_and_in_the_metrics()
    {
        using var metrics = new ServerMetrics();
        var recorded = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == GetMeter(metrics) && instrument.Name == "modelrouter.route.stage")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "stage")
                {
                    lock (recorded)
                    {
                        recorded[(string)tag.Value!] = recorded.GetValueOrDefault((string)tag.Value!) + value;
                    }
                }
            }
        });
        listener.Start();
        var stage1 = new ScriptedStage();
        var stage2 = new ScriptedStage();
        var cascade = new RouteCascade(stage1, stage2, new FakeJudge(0), Routes, metrics: metrics);
        var cancel = TestContext.Current.CancellationToken;

        stage1.Next = ("code", 0.9f, false);
        await cascade.DecideAsync("a", cancel);
        stage1.Next = ("code", 0.1f, true);
        stage2.Next = ("math", 0.9f, false);
        await cascade.DecideAsync("b", cancel);
        await cascade.DecideAsync("c", cancel);
        stage2.Next = ("math", 0.1f, true);
        await cascade.DecideAsync("d", cancel);
        cascade.RecordHint();

        Assert.Equal(1, cascade.Count(CascadeStage.Classifier));
        Assert.Equal(2, cascade.Count(CascadeStage.Encoder));
        Assert.Equal(1, cascade.Count(CascadeStage.Judge));
        Assert.Equal(0, cascade.Count(CascadeStage.Default));
        Assert.Equal(1, cascade.Count(CascadeStage.Hint));
        Assert.Equal(new Dictionary<string, long> { ["classifier"] = 1, ["encoder"] = 2, ["judge"] = 1, ["hint"] = 1 }, recorded);
    }

    [Fact]
    public async Task The_router_reports_the_deciding_stage_and_why_the_default_serves()
    {
        var options = new ServerOptions
        {
            Models =
            [
                new CatalogModelOptions { Name = "general", Path = "g.gguf", Capabilities = ["chat"] },
                new CatalogModelOptions { Name = "coder", Path = "c.gguf", Capabilities = ["code"], SizeClass = SizeClass.Large },
            ],
            DefaultModel = "general",
        };
        var availability = new Instant();
        var encoder = new PolicyRouter(options, new RouteCascade(new FakeStage("chat", 0.2f, unsure: true), new FakeStage("code", 0.95f, unsure: false)), availability);
        var unsure = new PolicyRouter(options, new RouteCascade(new FakeStage("chat", 0.2f, unsure: true), new FakeStage("code", 0.3f, unsure: true)), availability);

        var byEncoder = await encoder.RouteAsync("fix this", RouteHints.None, TestContext.Current.CancellationToken);
        var byDefault = await unsure.RouteAsync("fix this", RouteHints.None, TestContext.Current.CancellationToken);
        var byHint = encoder.Route("fix this", new RouteHints { RequiredCapability = "code" });

        Assert.Equal(("coder", "encoder", false), (byEncoder.Model, byEncoder.Stage, byEncoder.Unsure));
        Assert.EndsWith("; stage encoder (0.95)", byEncoder.Explain(), StringComparison.Ordinal);
        Assert.Equal(("general", "default", true), (byDefault.Model, byDefault.Stage, byDefault.Unsure));
        Assert.Equal("unsure: classifier unsure (chat at 0.20), encoder unsure (code at 0.30): default model general; stage default (0.20)", byDefault.Explain());
        Assert.Equal("hint", byHint.Stage);
        Assert.Equal(1, encoder.Cascade.Count(CascadeStage.Hint));
    }

    [Fact]
    public void A_judge_model_outside_the_catalog_is_refused_with_the_names()
    {
        var options = new ServerOptions { Models = [new CatalogModelOptions { Name = "m0", Path = "m0.gguf" }], Cascade = new RouterCascadeOptions { JudgeModel = "nope" } };

        var error = Assert.Throws<ArgumentException>(() => RouteCascadeFactory.Create(options, new FakeStage("chat", 1, false), null, () => null));

        Assert.Contains("JudgeModel 'nope' is not a catalog model (m0)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_stage_2_head_is_refused_with_its_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}.mrtc.stage2");
        var options = new ServerOptions { Models = [new CatalogModelOptions { Name = "m0", Path = "m0.gguf" }], Cascade = new RouterCascadeOptions { Stage2Path = path } };

        var error = Assert.Throws<FileNotFoundException>(() => RouteCascadeFactory.Create(options, new FakeStage("chat", 1, false), null, () => null));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_HTTP_reply_shows_the_deciding_stage_and_its_confidence()
    {
        using var models = TestModels.Create(1);
        await using var sure = await StartAsync(models, new FakeStage("chat", 0.87f, unsure: false));
        var body = await ChatAsync(sure.Http);

        Assert.Equal("classifier", body.Stage);
        Assert.Equal("0.870", body.HeaderConfidence);
        Assert.Equal(0.87, body.Extension.GetProperty("confidence").GetDouble(), 3);
        Assert.False(body.Extension.GetProperty("unsure").GetBoolean());
        Assert.EndsWith("stage classifier (0.87)", body.Extension.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Over_HTTP_an_unsure_request_goes_through_the_real_judge_model_and_says_why_it_got_the_default()
    {
        // The judge is the catalog's stories260K through the scheduler: a story model names no route, so the answer is
        // unusable and the default model serves, with every stage's reason.
        using var models = TestModels.Create(1);
        await using var server = await StartAsync(models, new FakeStage("chat", 0.25f, unsure: true), "--ModelRouter:Cascade:JudgeModel=m0");
        var body = await ChatAsync(server.Http);

        Assert.Equal("default", body.Stage);
        Assert.True(body.Extension.GetProperty("unsure").GetBoolean());
        Assert.Equal("unsure: classifier unsure (chat at 0.25), judge gave no usable answer: default model m0; stage default (0.25)", body.Extension.GetProperty("reason").GetString());
        var router = (PolicyRouter)server.Host.Services.GetRequiredService<IRequestRouter>();
        Assert.Equal(1, router.Cascade.Count(CascadeStage.Default));
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_socket_route_reply_and_done_stats_carry_the_deciding_stage_and_its_confidence()
    {
        using var models = TestModels.Create(1);
        await using var server = await StartAsync(models, new FakeStage("chat", 0.87f, unsure: false));
        var endpoint = server.Host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ModelRouterClient.ConnectAsync(endpoint, "test-token", cancellationToken: ct);
        Assert.True(client.Server.Version >= ProtocolConstants.RouteStageVersion);

        var decision = await client.RouteAsync("Once upon a time", ct);
        Assert.Equal(RouteStage.Classifier, decision.Stage);
        Assert.Equal(0.87f, decision.Confidence);

        var result = await client.CompleteAsync(new GenerateRequest { Prompt = "Once upon a time", MaxTokens = 3, Temperature = 0 }, ct);
        Assert.Equal(RouteStage.Classifier, result.Stats.Stage);
        Assert.Equal(0.87f, result.Stats.StageConfidence, 1f / ushort.MaxValue); // the done frame carries it in 1/65535 steps

        var named = await client.CompleteAsync(new GenerateRequest { Prompt = "Once upon a time", Model = "m0", MaxTokens = 1, Temperature = 0 }, ct);
        Assert.Equal(RouteStage.None, named.Stats.Stage);
        Assert.Equal(0f, named.Stats.StageConfidence);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task While_the_judge_answers_the_connection_and_the_caller_are_not_blocked()
    {
        using var models = TestModels.Create(1);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartAsync(models, new FakeStage("chat", 0.87f, unsure: false), gate);
        var endpoint = server.Host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
        var ct = TestContext.Current.CancellationToken;
        await using var client = await ModelRouterClient.ConnectAsync(endpoint, "test-token", cancellationToken: ct);

        // A routed generation and a route-only request both wait for the (gated) judge ...
        var routed = client.CompleteAsync(new GenerateRequest { Prompt = "Once upon a time", MaxTokens = 2, Temperature = 0 }, ct);
        var routeOnly = client.RouteAsync("Once upon a time", ct);

        // ... while the same connection still answers a ping and serves a request that named its model.
        await client.PingAsync(ct);
        var named = await client.CompleteAsync(new GenerateRequest { Prompt = "Once upon a time", Model = "m0", MaxTokens = 2, Temperature = 0 }, ct);
        Assert.Equal("m0", named.Model);
        Assert.False(routed.IsCompleted);
        Assert.False(routeOnly.IsCompleted);

        gate.SetResult();
        Assert.Equal("m0", (await routeOnly).Model);
        Assert.Equal("m0", (await routed).Model);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_version_1_socket_session_gets_the_version_1_layouts_with_no_stage()
    {
        using var models = TestModels.Create(1);
        await using var server = await StartAsync(models, new FakeStage("chat", 0.87f, unsure: false));
        var endpoint = server.Host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
        var ct = TestContext.Current.CancellationToken;
        using var socket = new System.Net.Sockets.Socket(endpoint.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(endpoint, ct);
        await using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Frame(w => FrameWriter.WriteHello(w, new HelloMessage { MaxVersion = 1, ClientName = "v1", Token = "test-token" })), ct);
        await stream.WriteAsync(Frame(w => FrameWriter.WriteRoute(w, 5, new RouteRequest { Prompt = "Once upon a time" })), ct);

        var helloOk = await ReadFrameAsync(stream, ct);
        Assert.Equal(FrameType.HelloOk, helloOk.Type);
        Assert.Equal(1, MessageReader.ReadHelloOk(helloOk.Payload, ProtocolLimits.Default).Version);
        var reply = await ReadFrameAsync(stream, ct);
        Assert.Equal(FrameType.RouteResult, reply.Type);
        Assert.Equal(0, reply.Payload[14]); // reserved in version 1: a version 1 client refuses anything else
        var decision = MessageReader.ReadRouteResult(reply.Payload, ProtocolLimits.Default);
        Assert.Equal(RouteStage.None, decision.Stage);
        Assert.Equal(0.87f, decision.Confidence);
    }

    private static byte[] Frame(Action<System.Buffers.ArrayBufferWriter<byte>> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static async Task<(FrameType Type, byte[] Payload)> ReadFrameAsync(Stream stream, CancellationToken ct)
    {
        var header = new byte[ProtocolConstants.HeaderSize];
        await stream.ReadExactlyAsync(header, ct);
        var payload = new byte[System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(ProtocolConstants.PayloadLengthOffset))];
        await stream.ReadExactlyAsync(payload, ct);
        return ((FrameType)header[ProtocolConstants.TypeOffset], payload);
    }

    private static Meter GetMeter(ServerMetrics metrics) =>
        (Meter)typeof(ServerMetrics).GetField("meter", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(metrics)!;

    private static async Task<(string Stage, string HeaderConfidence, JsonElement Extension)> ChatAsync(Uri http)
    {
        using var client = new HttpClient { BaseAddress = http };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "test-token");
        using var content = new StringContent("""{"model":"auto","max_tokens":3,"temperature":0,"prompt":"Once upon a time"}""", Encoding.UTF8, "application/json");
        using var response = await client.PostAsync("/v1/completions", content, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var extension = JsonDocument.Parse(text).RootElement.GetProperty("modelrouter").Clone();
        Assert.Equal(response.Headers.GetValues("x-modelrouter-route-stage").Single(), extension.GetProperty("stage").GetString());
        return (extension.GetProperty("stage").GetString()!, response.Headers.GetValues("x-modelrouter-route-confidence").Single(), extension);
    }

    private static Task<LiveServer> StartAsync(TestModels models, ITaskClassifier classifier, params string[] extra) =>
        StartAsync(models, classifier, judgeGate: null, extra);

    /// <param name="judgeGate">When set, every routing decision waits for it as the LLM judge's answer would.</param>
    private static async Task<LiveServer> StartAsync(TestModels models, ITaskClassifier classifier, TaskCompletionSource? judgeGate, params string[] extra)
    {
        var size = new FileInfo(models.Paths[0]).Length;
        string[] args =
        [
            "--ModelRouter:Tcp=127.0.0.1:0",
            "--ModelRouter:Http=http://127.0.0.1:0",
            "--ModelRouter:AuthToken=test-token",
            $"--ModelRouter:DeviceBudgetBytes={size * 2}",
            "--ModelRouter:Scheduler:ContextPerSequence=512",
            "--ModelRouter:Scheduler:Threads=1",
            $"--ModelRouter:Models:0:Name=m0",
            $"--ModelRouter:Models:0:Path={models.Paths[0]}",
            "--ModelRouter:Models:0:Capabilities:0=chat",
            .. extra,
        ];
        var builder = ModelRouterHost.CreateBuilder(args, configFile: null, classifier);
        builder.Logging.ClearProviders();
        if (judgeGate is not null)
        {
            var original = builder.Services.Last(d => d.ServiceType == typeof(IRequestRouter));
            builder.Services.Remove(original);
            builder.Services.AddSingleton<IRequestRouter>(sp => new GatedRouter((IRequestRouter)original.ImplementationFactory!(sp), judgeGate.Task));
        }

        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return new LiveServer(host, host.Services.GetRequiredService<Doors.Http.HttpDoorService>().Address!);
    }

    private sealed record LiveServer(IHost Host, Uri Http) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Host.StopAsync(CancellationToken.None);
            Host.Dispose();
        }
    }

    private sealed class FakeStage(string task, float confidence, bool unsure) : ITaskClassifier
    {
        public int Calls { get; private set; }

        public (string Task, float Confidence, bool Unsure) Classify(string prompt)
        {
            Calls++;
            return (task, confidence, unsure);
        }
    }

    private sealed class Instant : IModelAvailability
    {
        public TimeSpan EstimateTimeToFirstToken(string model) => TimeSpan.FromMilliseconds(20);
    }

    private sealed class ScriptedStage : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Next { get; set; }

        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => Next;
    }

    private sealed class ThrowingStage : ITaskClassifier
    {
        public (string Task, float Confidence, bool Unsure) Classify(string prompt) => throw new InvalidOperationException("encoder broke");
    }

    private sealed class FakeJudge(int? choice) : ILlmJudge
    {
        public int Calls { get; private set; }

        public IReadOnlyList<string>? LastRoutes { get; private set; }

        public ValueTask<int?> ChooseAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default)
        {
            Calls++;
            LastRoutes = routes;
            return ValueTask.FromResult(choice);
        }
    }

    /// <summary>A router whose every decision takes as long as a gate, as one the LLM judge is asked for does.</summary>
    private sealed class GatedRouter(IRequestRouter inner, Task gate) : IRequestRouter
    {
        public RouteResult Route(string prompt, RouteHints hints) => throw new InvalidOperationException("the doors must not block on routing");

        public async ValueTask<RouteResult> RouteAsync(string prompt, RouteHints hints, CancellationToken cancellationToken = default)
        {
            await gate.WaitAsync(cancellationToken);
            return await inner.RouteAsync(prompt, hints, cancellationToken);
        }
    }

    private sealed class ThrowingJudge : ILlmJudge
    {
        public ValueTask<int?> ChooseAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("judge broke");
    }

    private sealed class SilentJudge : ILlmJudge
    {
        public async ValueTask<int?> ChooseAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
    }
}
