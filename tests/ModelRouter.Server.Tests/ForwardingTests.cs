using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ModelRouter.Protocol;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;
using RuntimeFinish = ModelRouter.Runtime.Generation.FinishReason;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The pipeline's forwarding seam (issue 21) with a scripted forwarder in place of the cluster: where a request goes,
/// what the client sees on both doors (one stream, the serving node in the stats), and what happens when the other
/// node fails before or after its first piece, refuses, or the client leaves. The cluster's own forwarder over real
/// sockets is tested in ModelRouter.Cluster.Tests.
/// </summary>
public sealed class ForwardingTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>What the scripted other node does with a forwarded request.</summary>
    private enum Script
    {
        Answer,
        FailBeforeFirstPiece,
        FailAfterFirstPiece,
        WaitForCancellation,
    }

    private sealed class ScriptedForwarder(Script script, bool accepts = true) : IRequestForwarder
    {
        public static readonly ForwardTarget B = new("b", "127.0.0.1:1", "OnDevice");

        public int Chosen;
        public GenerationCommand? Received;
        public string? ReceivedModel;
        public readonly TaskCompletionSource Cancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string LocalNode => "a";

        public bool AcceptsForwarded => accepts;

        public int NodesInView => 2;

        public ForwardTarget? Choose(string model)
        {
            Interlocked.Increment(ref Chosen);
            return B;
        }

        public async IAsyncEnumerable<ForwardedPiece> ForwardAsync(ForwardTarget target, GenerationCommand command, string model,
            [EnumeratorCancellation] CancellationToken cancellation)
        {
            (Received, ReceivedModel) = (command, model);
            await Task.Yield();
            switch (script)
            {
                case Script.FailBeforeFirstPiece:
                    throw new ForwardException(RequestError.ModelUnavailable, "node b could not be reached: connection refused");
                case Script.WaitForCancellation:
                    yield return new ForwardedPiece("Once");
                    try
                    {
                        await Task.Delay(Timeout.Infinite, cancellation);
                    }
                    finally
                    {
                        Cancelled.TrySetResult();
                    }

                    yield break;
            }

            yield return new ForwardedPiece("Hello");
            yield return new ForwardedPiece(", world");
            if (script == Script.FailAfterFirstPiece)
            {
                throw new ForwardException(RequestError.ModelUnavailable, "the connection to node b broke");
            }

            yield return new ForwardedPiece("", new ForwardedDone(model, "b", RuntimeFinish.MaxTokens, 5, 2, 3, 42.5,
                TimeSpan.FromMilliseconds(7), TimeSpan.FromMilliseconds(11)));
        }
    }

    private static Task<TestServer> StartAsync(TestModels models, ScriptedForwarder forwarder, params string[] extra) =>
        TestServer.StartAsync(models, residentModels: 1, services => services.AddSingleton<IRequestForwarder>(forwarder), extra);

    private static RequestPipeline Pipeline(TestServer server) => server.Services.GetRequiredService<RequestPipeline>();

    private static async Task<(string Text, GenerationEvent End)> RunAsync(RequestPipeline pipeline, GenerationCommand command,
        Action<GenerationResults>? whileRunning = null)
    {
        using var results = new GenerationResults();
        pipeline.StartGeneration(command, results, results.Cancellation);
        whileRunning?.Invoke(results);
        var (text, _, end) = await results.ReadToEndAsync(Cancel);
        return (text, end);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_request_the_cluster_places_elsewhere_reaches_the_client_as_one_stream_with_the_serving_node_in_its_stats()
    {
        using var models = TestModels.Create(1);
        var forwarder = new ScriptedForwarder(Script.Answer);
        await using var server = await StartAsync(models, forwarder, "--ModelRouter:Http=http://127.0.0.1:0");

        // The socket door: text, then done with the other node's statistics and name (protocol version 4).
        await using var client = await server.ConnectAsync();
        var text = new StringBuilder();
        Client.GenerationResult? result = null;
        await foreach (var chunk in client.ChatAsync(new ChatGenerateRequest { Model = "m0", Messages = [new("user", "Hi")], MaxTokens = 3, Seed = 9 }, Cancel))
        {
            text.Append(chunk.Text);
            result ??= chunk.Result;
        }

        Assert.Equal("Hello, world", text.ToString());
        Assert.Equal(("m0", "b", "OnDevice", 3, 2), (result!.Model, result.Node, result.Placement, result.Stats.GeneratedTokens, result.Stats.CachedPromptTokens));
        Assert.Equal(Protocol.FinishReason.MaxTokens, result.FinishReason);
        Assert.Equal(7, result.Stats.QueueWait.TotalMilliseconds, 3);
        Assert.Equal(11, result.Stats.SwapTime.TotalMilliseconds, 3);
        Assert.True(result.Stats.TimeToFirstToken > TimeSpan.Zero); // measured here: what the client waited, the hop included

        // The command went over as it came, with the model this node resolved.
        Assert.Equal(("m0", 3, 9ul), (forwarder.ReceivedModel, forwarder.Received!.MaxTokens, forwarder.Received.Seed));
        Assert.Equal("Hi", forwarder.Received.Messages!.Single().Content);

        // The HTTP door: the same node in the header and in our extension of the body.
        using var http = new HttpClient { BaseAddress = server.Http };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestServer.Token);
        using var response = await http.PostAsync("/v1/completions",
            new StringContent("""{"model":"m0","prompt":"Once upon a time","max_tokens":3}""", Encoding.UTF8, "application/json"), Cancel);
        var body = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Equal("b", response.Headers.GetValues("x-modelrouter-node").Single());
        Assert.Equal("OnDevice", response.Headers.GetValues("x-modelrouter-placement").Single());
        using var json = JsonDocument.Parse(body);
        Assert.Equal("Hello, world", json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("b", json.RootElement.GetProperty("modelrouter").GetProperty("node").GetString());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_forward_that_fails_before_its_first_piece_is_served_here_instead()
    {
        using var models = TestModels.Create(1);
        var forwarder = new ScriptedForwarder(Script.FailBeforeFirstPiece);
        await using var server = await StartAsync(models, forwarder);

        var (text, end) = await RunAsync(Pipeline(server), new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 60 });

        Assert.Equal(GenerationEventKind.Completed, end.Kind);
        Assert.Equal(TestModels.Reference(60), text); // the local model's own words: nothing of the failed forward
        Assert.Equal("a", end.Done!.Node);
        Assert.StartsWith("ServedHere: node b could not be reached", end.Done.Placement, StringComparison.Ordinal);
        Assert.Equal(1, forwarder.Chosen);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_forward_that_fails_after_text_was_relayed_ends_with_a_typed_error_not_a_spliced_answer()
    {
        using var models = TestModels.Create(1);
        await using var server = await StartAsync(models, new ScriptedForwarder(Script.FailAfterFirstPiece));

        var (text, end) = await RunAsync(Pipeline(server), new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 20 });

        Assert.Equal("Hello, world", text);
        Assert.Equal(GenerationEventKind.Failed, end.Kind);
        Assert.Equal(RequestError.ModelUnavailable, end.Error);
        Assert.Contains("node b failed mid-answer", end.Message, StringComparison.Ordinal);
        Assert.Equal(0, Pipeline(server).RequestsInFlight);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_forwarded_request_is_served_here_and_never_forwarded_again()
    {
        using var models = TestModels.Create(1);
        var forwarder = new ScriptedForwarder(Script.Answer);
        await using var server = await StartAsync(models, forwarder);

        // Over the socket, flagged as another node would send it.
        await using var client = await server.ConnectAsync();
        var result = await client.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 60, Temperature = 0, Forwarded = true }, Cancel);

        Assert.Equal(TestModels.Reference(60), result.Text);
        Assert.Equal(("a", "Forwarded"), (result.Node, result.Placement));
        Assert.Equal(0, forwarder.Chosen);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_node_that_takes_no_forwarded_work_refuses_it_and_still_serves_its_own_clients()
    {
        using var models = TestModels.Create(1);
        var forwarder = new ScriptedForwarder(Script.FailBeforeFirstPiece, accepts: false);
        await using var server = await StartAsync(models, forwarder);
        var pipeline = Pipeline(server);

        var (_, refused) = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 5, Forwarded = true });
        var (text, served) = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 60 });

        Assert.Equal(GenerationEventKind.Failed, refused.Kind);
        Assert.Equal(RequestError.ModelUnavailable, refused.Error);
        Assert.Contains("takes no forwarded requests", refused.Message, StringComparison.Ordinal);
        Assert.Equal(GenerationEventKind.Completed, served.Kind);
        Assert.Equal(TestModels.Reference(60), text);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_client_that_leaves_cancels_the_forward_on_the_other_node()
    {
        using var models = TestModels.Create(1);
        var forwarder = new ScriptedForwarder(Script.WaitForCancellation);
        await using var server = await StartAsync(models, forwarder);
        var pipeline = Pipeline(server);

        using var results = new GenerationResults();
        pipeline.StartGeneration(new GenerationCommand { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 5 }, results, results.Cancellation);
        await using var events = results.GetAsyncEnumerator(Cancel);
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(GenerationEventKind.Text, events.Current.Kind);
        results.Cancel();
        await forwarder.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30), Cancel);
        while (await events.MoveNextAsync() && events.Current.Kind == GenerationEventKind.Text)
        {
        }

        Assert.Equal(GenerationEventKind.Completed, events.Current.Kind);
        Assert.Equal(RuntimeFinish.Cancelled, events.Current.Done!.FinishReason);
        Assert.Equal(0, pipeline.RequestsInFlight);
    }
}
