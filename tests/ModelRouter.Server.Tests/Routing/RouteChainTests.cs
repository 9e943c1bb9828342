using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Routing.Tests.Fallback;
using ModelRouter.Server.Options;

namespace ModelRouter.Server.Tests.Routing;

/// <summary>
/// Routes that list remote endpoints, in a live server: a fake OpenAI-compatible upstream answers or fails each way,
/// and the route's chain either streams the remote's answer or ends on the local model the policy chose.
/// </summary>
public sealed class RouteChainTests
{
    private const int Tokens = 20;

    private static GenerateRequest Routed(string? model = null) => new() { Model = model, Prompt = TestModels.Prompt, MaxTokens = Tokens, Temperature = 0 };

    private static string[] ChainArgs(Uri endpoint, int timeoutMs = 2000) =>
    [
        "--ModelRouter:Remotes:0:Name=remote-a",
        $"--ModelRouter:Remotes:0:Endpoint={endpoint}",
        "--ModelRouter:Remotes:0:Model=fake-model",
        $"--ModelRouter:Remotes:0:TimeoutMs={timeoutMs}",
        "--ModelRouter:Remotes:0:Retries=1",
        "--ModelRouter:Routes:0:Task=chat",
        "--ModelRouter:Routes:0:Models:0=m0",
        "--ModelRouter:Routes:0:Remotes:0=remote-a",
    ];

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_routed_request_streams_the_remotes_answer_when_it_answers()
    {
        using var models = TestModels.Create(1);
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, ChainArgs(upstream.Endpoint));
        await using var client = await server.ConnectAsync();

        var result = await client.CompleteAsync(Routed(), TestContext.Current.CancellationToken);

        Assert.Equal(string.Concat(FakeUpstream.Pieces), result.Text);
        Assert.Equal("remote-a", result.Model);
        Assert.Equal(FakeUpstream.Pieces.Length, result.Stats.GeneratedTokens);
        Assert.Equal(1, upstream.Hits);
    }

    [Theory(Timeout = TestTimeouts.LiveServerMs)]
    [InlineData(UpstreamBehaviour.ServerError, 2)]
    [InlineData(UpstreamBehaviour.Overloaded, 2)]
    [InlineData(UpstreamBehaviour.RateLimitedRetryLater, 1)]
    [InlineData(UpstreamBehaviour.BadRequest, 1)]
    [InlineData(UpstreamBehaviour.Hang, 2)]
    public async Task A_failing_remote_hands_the_request_to_the_local_model(UpstreamBehaviour failure, int expectedHits)
    {
        using var models = TestModels.Create(1);

        // The first routed request is answered: it warms the server's path to the upstream (JIT, HTTP client), so that
        // the failing attempts below reach the upstream well within their timeout. A cold first attempt under load could
        // time out before its request arrived, and the hit count would then say nothing (the old 300 ms / 1 s race).
        await using var upstream = new FakeUpstream(n => n == 1 ? UpstreamBehaviour.Ok : failure);
        var timeoutMs = failure == UpstreamBehaviour.Hang ? 2_000 : 15_000; // only Hang waits for the timeout
        await using var server = await TestServer.StartAsync(models, residentModels: 1, ChainArgs(upstream.Endpoint, timeoutMs));
        await using var client = await server.ConnectAsync();
        var local = await client.CompleteAsync(Routed("m0"), TestContext.Current.CancellationToken);
        Assert.Equal(0, upstream.Hits); // a request naming its model never takes the chain
        Assert.Equal("remote-a", (await client.CompleteAsync(Routed(), TestContext.Current.CancellationToken)).Model);

        var result = await client.CompleteAsync(Routed(), TestContext.Current.CancellationToken);

        Assert.Equal("m0", result.Model);
        Assert.Equal(local.Text, result.Text);
        Assert.Equal(Tokens, result.Stats.GeneratedTokens);
        Assert.Equal(1 + expectedHits, upstream.Hits); // transient failures are retried once; a 400 or a long Retry-After is not
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_remote_that_breaks_mid_answer_fails_the_request_instead_of_splicing_in_another_model()
    {
        using var models = TestModels.Create(1);
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.AbortMidStream);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, ChainArgs(upstream.Endpoint));
        await using var client = await server.ConnectAsync();

        var error = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteAsync(Routed(), TestContext.Current.CancellationToken));

        Assert.Equal(ErrorCode.ModelUnavailable, error.Code);
        Assert.Contains("remote-a failed mid-answer", error.Message, StringComparison.Ordinal);

        // The connection and the server stay healthy: the local model still answers a request that names it.
        var after = await client.CompleteAsync(Routed("m0"), TestContext.Current.CancellationToken);
        Assert.Equal(Tokens, after.Stats.GeneratedTokens);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Cancelling_while_the_remote_hangs_ends_the_request_and_frees_its_slot()
    {
        using var models = TestModels.Create(1);
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Hang);
        string[] args = [.. ChainArgs(upstream.Endpoint, timeoutMs: 60_000), "--ModelRouter:Limits:MaxRequestsInFlightPerConnection=1"];
        await using var server = await TestServer.StartAsync(models, residentModels: 1, args);
        await using var client = await server.ConnectAsync();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var hanging = client.CompleteAsync(Routed(), cancel.Token);

        // Cancel once the remote holds the request (a fixed delay raced a cold first call under load).
        await upstream.WaitForHitsAsync(1).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hanging);

        // One request in flight is allowed: the next is accepted only once the cancelled one has ended on the server.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                var after = await client.CompleteAsync(Routed("m0"), TestContext.Current.CancellationToken);
                Assert.Equal(Tokens, after.Stats.GeneratedTokens);
                break;
            }
            catch (ModelRouterException ex) when (ex.Code == ErrorCode.TooManyRequestsInFlight && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
        }

        Assert.Equal(1, upstream.Hits);
    }

    [Fact]
    public void The_validator_names_unknown_remotes_and_bad_remote_settings()
    {
        var models = new List<CatalogModelOptions> { new() { Name = "m0", Path = typeof(RouteChainTests).Assembly.Location } };
        var options = new ServerOptions
        {
            Models = models,
            Remotes =
            [
                new RemoteOptions { Name = "m0", Endpoint = "ftp://example.org", Model = "", TimeoutMs = 0 },
                new RemoteOptions { Name = "keyed", Endpoint = "https://example.org", Model = "x", ApiKeyVariable = "MODELROUTER_TEST_KEY_THAT_IS_NOT_SET" },
            ],
            Routes = [new RouteOptions { Task = "chat", Models = ["m0"], Remotes = ["nowhere"] }],
        };

        var result = new ServerOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains("ModelRouter:Remotes:0:Name = 'm0': already a catalog model's name", failures);
        Assert.Contains("ModelRouter:Remotes:0:Endpoint = 'ftp://example.org': not an absolute http or https URL", failures);
        Assert.Contains("ModelRouter:Remotes:0:Model = '': empty (the upstream's model id)", failures);
        Assert.Contains("ModelRouter:Remotes:0:TimeoutMs = 0: must be within 10..3600000", failures);
        Assert.Contains("ModelRouter:Remotes:1:ApiKeyVariable = 'MODELROUTER_TEST_KEY_THAT_IS_NOT_SET': the environment variable MODELROUTER_TEST_KEY_THAT_IS_NOT_SET is not set", failures);
        Assert.Contains("ModelRouter:Routes:0:Remotes:0 = 'nowhere': not a name in ModelRouter:Remotes (route 'chat')", failures);
    }
}
