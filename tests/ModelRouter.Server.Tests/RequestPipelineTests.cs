using System.Text;
using ModelRouter.Runtime.Chat;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The one request path, tested once without any door: what both the socket and the HTTP door rely on (limits,
/// routing, chat rendering, embeddings, admin rights, the in-flight bound, whole-request statistics).
/// </summary>
public sealed class RequestPipelineTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static RequestPipeline Pipeline(TestServer server) => (RequestPipeline)server.Services.GetService(typeof(RequestPipeline))!;

    private static async Task<(string Text, RouteOutcome? Route, GenerationEvent End)> RunAsync(RequestPipeline pipeline, GenerationCommand command)
    {
        using var results = new GenerationResults();
        pipeline.StartGeneration(command, results, results.Cancellation);
        return await results.ReadToEndAsync(Cancel);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_named_generation_streams_the_reference_text_and_reports_whole_request_statistics()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);

        var (text, route, end) = await RunAsync(Pipeline(server), new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 60 });

        Assert.Null(route); // named: nothing was routed
        Assert.Equal(GenerationEventKind.Completed, end.Kind);
        Assert.Equal(TestModels.Reference(60), text);
        var done = end.Done!;
        Assert.Equal(FinishReason.MaxTokens, done.FinishReason);
        Assert.Equal(60, done.GeneratedTokens);
        Assert.True(done.PromptTokens > 0);
        Assert.True(done.Total >= done.QueueWait + done.TimeToFirstToken!.Value, $"total {done.Total} < queue {done.QueueWait} + ttft {done.TimeToFirstToken}");
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_routed_chat_is_routed_first_then_rendered_with_the_models_template()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Models:0:ChatTemplate=chatml");
        var pipeline = Pipeline(server);
        var rendered = ChatTemplate.Render("chatml", [new ChatTurn("system", "Be brief."), new ChatTurn("user", TestModels.Prompt)]);

        var chat = await RunAsync(pipeline, new GenerationCommand
        {
            Model = "auto",
            Messages = [new ChatTurn("system", "Be brief."), new ChatTurn("user", TestModels.Prompt)],
            MaxTokens = 12,
            Temperature = 0,
        });
        var raw = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Prompt = rendered, MaxTokens = 12, Temperature = 0 });

        Assert.Equal("m0", chat.Route!.Model);
        Assert.Equal("chat", chat.Route.Task);
        Assert.Equal("chat", chat.End.Done!.Task);
        Assert.Equal(raw.Text, chat.Text);
    }

    [Theory(Timeout = TestTimeouts.LiveServerMs)]
    [InlineData("no-such-model", null, 10, RequestError.UnknownModel)]
    [InlineData("m0", "", 10, RequestError.InvalidArgument)]
    [InlineData("m0", null, 5000, RequestError.MaxTokensExceeded)]
    [InlineData("m0", "huge", 10, RequestError.PromptTooLong)]
    public async Task A_bad_request_fails_with_its_kind_and_leaves_no_slot_taken(string model, string? prompt, int maxTokens, RequestError expected)
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Limits:MaxPromptBytes=1024");
        var pipeline = Pipeline(server);
        var text = prompt == "huge" ? new string('x', 2000) : prompt ?? TestModels.Prompt;

        var (_, _, end) = await RunAsync(pipeline, new GenerationCommand { Model = model, Prompt = text, MaxTokens = maxTokens });

        Assert.Equal(GenerationEventKind.Failed, end.Kind);
        Assert.Equal(expected, end.Error);
        Assert.False(string.IsNullOrWhiteSpace(end.Message));
        Assert.Equal(0, pipeline.RequestsInFlight);
        Assert.True(pipeline.Stats().ErrorsTotal >= 1);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_command_with_both_or_neither_of_prompt_and_messages_is_refused()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);
        var pipeline = Pipeline(server);

        var both = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Prompt = "x", Messages = [new ChatTurn("user", "x")] });
        var neither = await RunAsync(pipeline, new GenerationCommand { Model = "m0" });

        Assert.Equal(RequestError.InvalidArgument, both.End.Error);
        Assert.Equal(RequestError.InvalidArgument, neither.End.Error);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_in_flight_limit_refuses_the_next_request_as_overloaded_with_a_retry_hint()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Limits:MaxRequestsInFlight=1", "--ModelRouter:Scheduler:ContextPerSequence=4096");
        var pipeline = Pipeline(server);
        using var first = new GenerationResults();
        pipeline.StartGeneration(new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 4000 }, first, first.Cancellation);
        await foreach (var started in first.WithCancellation(Cancel))
        {
            if (started.Kind == GenerationEventKind.Text)
            {
                break; // decoding: the slot is taken
            }
        }

        var second = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 4 });
        var embed = await Assert.ThrowsAsync<RequestException>(() => pipeline.EmbedAsync(new EmbeddingCommand { Model = "m0", Inputs = ["x"] }, Cancel));

        Assert.Equal(RequestError.Overloaded, second.End.Error);
        Assert.Equal(RequestError.Overloaded, embed.Error);
        Assert.NotNull(embed.RetryAfter);
        first.Cancel();
        var (_, _, end) = await first.ReadToEndAsync(Cancel);
        Assert.True(end.Kind == GenerationEventKind.Completed, $"{end.Kind}: {end.Error} {end.Message}");
        Assert.Equal(FinishReason.Cancelled, end.Done!.FinishReason);
        Assert.Equal(0, pipeline.RequestsInFlight);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Embeddings_are_batched_in_input_order_honour_normalize_and_count_tokens()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);
        var pipeline = Pipeline(server);
        string[] inputs = ["a cat", "a small dog ran to the park", "the moon"];

        var batch = await pipeline.EmbedAsync(new EmbeddingCommand { Inputs = inputs }, Cancel); // no model: the default
        var raw = await pipeline.EmbedAsync(new EmbeddingCommand { Model = "m0", Inputs = [inputs[1]], Normalize = false }, Cancel);
        var single = await pipeline.EmbedAsync(new EmbeddingCommand { Model = "m0", Inputs = [inputs[1]] }, Cancel);

        Assert.Equal("m0", batch.Model);
        Assert.Equal(3, batch.Count);
        Assert.All(batch.PromptTokens, t => Assert.True(t > 0));
        Assert.True(batch.PromptTokens[1] > batch.PromptTokens[0]);
        for (var i = 0; i < single.Dimensions; i++)
        {
            Assert.True(Math.Abs(single.Vector(0)[i] - batch.Vector(1)[i]) < 1e-5, $"element {i}"); // order kept
        }

        var norm = Math.Sqrt(raw.Vector(0).ToArray().Sum(v => (double)v * v));
        Assert.NotEqual(1.0, norm, 3); // not normalised on request
        Assert.Equal(single.Vector(0)[0], raw.Vector(0)[0] / norm, 4);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Embedding_requests_with_bad_inputs_are_refused_by_kind()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Limits:MaxEmbeddingInputs=2");
        var pipeline = Pipeline(server);

        Assert.Equal(RequestError.InvalidArgument, (await Assert.ThrowsAsync<RequestException>(() => pipeline.EmbedAsync(new EmbeddingCommand { Inputs = ["a", "b", "c"] }, Cancel))).Error);
        Assert.Equal(RequestError.InvalidArgument, (await Assert.ThrowsAsync<RequestException>(() => pipeline.EmbedAsync(new EmbeddingCommand { Inputs = [""] }, Cancel))).Error);
        Assert.Equal(RequestError.UnknownModel, (await Assert.ThrowsAsync<RequestException>(() => pipeline.EmbedAsync(new EmbeddingCommand { Model = "nope", Inputs = ["a"] }, Cancel))).Error);
        var tooLong = string.Join(' ', Enumerable.Repeat("word", 600)); // over EmbeddingTokensPerInput (512)
        var error = await Assert.ThrowsAsync<RequestException>(() => pipeline.EmbedAsync(new EmbeddingCommand { Inputs = ["fine", tooLong] }, Cancel));
        Assert.Equal(RequestError.InvalidArgument, error.Error);
        Assert.Contains("Input 1", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, pipeline.RequestsInFlight);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Tokens_authenticate_clients_and_admins_and_only_admins_run_admin_operations()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);
        var pipeline = Pipeline(server);

        Assert.Null(pipeline.Authenticate(Encoding.UTF8.GetBytes("wrong")));
        Assert.False(pipeline.Authenticate(Encoding.UTF8.GetBytes(TestServer.Token))!.Value.IsAdmin);
        Assert.True(pipeline.Authenticate(Encoding.UTF8.GetBytes(TestServer.AdminToken))!.Value.IsAdmin);

        var refused = await Assert.ThrowsAsync<RequestException>(() => pipeline.AdminAsync(new RequestCaller(false), AdminAction.Pin, "m0", Cancel));
        Assert.Equal(RequestError.AdminRequired, refused.Error);
        var pinned = await pipeline.AdminAsync(new RequestCaller(true), AdminAction.Pin, "m0", Cancel);
        Assert.True(pipeline.ListModels().Single().Pinned);
        Assert.Equal(AdminAction.Pin, pinned.Action);
    }

    [Fact]
    public void The_validator_refuses_an_http_door_beyond_loopback_without_a_token_unless_allowed()
    {
        var model = Path.GetTempFileName();
        try
        {
            var options = new ServerOptions { Http = "http://0.0.0.0:8080", Models = [new CatalogModelOptions { Name = "m", Path = model }] };
            var open = new ServerOptionsValidator().Validate(null, options);
            Assert.Contains(open.Failures!, f => f.Contains("listens beyond loopback with no AuthToken", StringComparison.Ordinal));

            options.AllowAnonymousRemoteHttp = true;
            Assert.DoesNotContain(new ServerOptionsValidator().Validate(null, options).Failures ?? [], f => f.Contains("loopback", StringComparison.Ordinal));

            options.AllowAnonymousRemoteHttp = false;
            options.AuthToken = "secret";
            Assert.DoesNotContain(new ServerOptionsValidator().Validate(null, options).Failures ?? [], f => f.Contains("loopback", StringComparison.Ordinal));

            options.AuthToken = null;
            options.Http = "http://127.0.0.1:0";
            Assert.DoesNotContain(new ServerOptionsValidator().Validate(null, options).Failures ?? [], f => f.Contains("loopback", StringComparison.Ordinal));
            options.Http = "ftp://x";
            Assert.Contains(new ServerOptionsValidator().Validate(null, options).Failures!, f => f.Contains("is not an http:// URL", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(model);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Draining_lets_accepted_generations_finish_and_refuses_new_ones_as_shutting_down()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);
        var pipeline = Pipeline(server);
        var runs = Enumerable.Range(0, 4).Select(_ => new GenerationResults()).ToList();
        foreach (var run in runs)
        {
            pipeline.StartGeneration(new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 60 }, run, run.Cancellation);
        }

        await pipeline.DrainAsync(Cancel); // no deadline of the caller's: the 30 s default is far off
        var late = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 4 });

        foreach (var run in runs)
        {
            var (text, _, end) = await ReadAsync(run);
            Assert.Equal(GenerationEventKind.Completed, end.Kind);
            Assert.Equal(TestModels.Reference(60), text);
            run.Dispose();
        }

        Assert.Equal(RequestError.ShuttingDown, late.End.Error);
        Assert.True(pipeline.IsDraining);
        Assert.Equal(0, pipeline.CutOffRequests);
        Assert.Equal(0, ((Hosting.ShutdownReport)server.Services.GetService(typeof(Hosting.ShutdownReport))!).ExitCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task At_the_drain_deadline_every_unfinished_request_ends_once_as_shutting_down_and_is_counted()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Scheduler:ContextPerSequence=4096",
            "--ModelRouter:Scheduler:MaxBatchPerModel=2");
        var pipeline = Pipeline(server);
        var runs = Enumerable.Range(0, 5).Select(_ => new GenerationResults()).ToList();
        foreach (var run in runs)
        {
            pipeline.StartGeneration(new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 4000 }, run, run.Cancellation);
        }

        await pipeline.DrainAsync(new CancellationToken(canceled: true)); // the deadline is now
        var ends = new List<GenerationEvent>();
        foreach (var run in runs)
        {
            ends.Add((await ReadAsync(run)).End);
            run.Dispose();
        }

        var cutOff = ends.Count(e => e.Kind == GenerationEventKind.Failed);
        Assert.All(ends.Where(e => e.Kind == GenerationEventKind.Failed), e => Assert.Equal(RequestError.ShuttingDown, e.Error));
        Assert.True(cutOff >= 3, $"only {cutOff} of 5 long requests were cut off (two decode at most; three must have been queued)");
        Assert.Equal(cutOff, pipeline.CutOffRequests);
        var report = (Hosting.ShutdownReport)server.Services.GetService(typeof(Hosting.ShutdownReport))!;
        Assert.Equal(cutOff, report.CutOff);
        Assert.Equal(Hosting.ShutdownReport.CutOffExitCode, report.ExitCode);
        Assert.Equal(0, pipeline.RequestsInFlight);
    }

    private static async Task<(string Text, RouteOutcome? Route, GenerationEvent End)> ReadAsync(GenerationResults results) =>
        await results.ReadToEndAsync(Cancel);
}
