using System.Runtime.CompilerServices;
using ModelRouter.Routing.Fallback;

namespace ModelRouter.Routing.Tests.Fallback;

public sealed class FallbackChainTests : IDisposable
{
    private readonly HttpClient http = new();
    private readonly LocalChatBackend local = new("local-3b", LocalAnswer);

    public void Dispose() => http.Dispose();

    [Fact]
    public async Task AHealthyRemoteAnswers()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        var result = await Chain(Remote(upstream)).CompleteAsync(new ChatRequest("hi"));
        Assert.Equal(("remote", "Hello from upstream"), (result.Member, result.Text));
        Assert.Equal(1, upstream.Hits);
    }

    [Theory]
    [InlineData(UpstreamBehaviour.ServerError, 2, "ServerError (HTTP 500)")]
    [InlineData(UpstreamBehaviour.Overloaded, 2, "Overloaded (HTTP 503)")]
    [InlineData(UpstreamBehaviour.RateLimitedRetryNow, 2, "RateLimited (HTTP 429)")]
    [InlineData(UpstreamBehaviour.RateLimitedRetryLater, 1, "RateLimited (HTTP 429)")]
    [InlineData(UpstreamBehaviour.BadRequest, 1, "Rejected (HTTP 400)")]
    [InlineData(UpstreamBehaviour.AbortMidStream, 2, "")]
    public async Task EachFailureMovesToTheLocalModelAfterTheRetriesItDeserves(UpstreamBehaviour behaviour, int expectedHits, string expectedOutcome)
    {
        await using var upstream = new FakeUpstream(_ => behaviour);
        var result = await Chain(Remote(upstream)).CompleteAsync(new ChatRequest("hi"));
        Assert.Equal(("local-3b", "local answer"), (result.Member, result.Text));
        Assert.Equal(expectedHits, upstream.Hits); // one retry for transient failures; none for a long Retry-After or a 400
        Assert.False(result.Attempts[0].Succeeded);
        Assert.Contains(expectedOutcome, result.Attempts[0].Outcome, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATimeoutMovesOn()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Hang);
        var result = await Chain(Remote(upstream) with { Retries = 0, AttemptTimeout = TimeSpan.FromMilliseconds(300) }).CompleteAsync(new ChatRequest("hi"));
        Assert.Equal("local-3b", result.Member);
        Assert.Contains("timed out after 300 ms", result.Attempts[0].Outcome, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARetryRecoversAFlakyUpstream()
    {
        await using var upstream = new FakeUpstream(n => n == 1 ? UpstreamBehaviour.AbortMidStream : UpstreamBehaviour.Ok);
        var result = await Chain(Remote(upstream)).CompleteAsync(new ChatRequest("hi"));
        Assert.Equal(("remote", "Hello from upstream"), (result.Member, result.Text));
        Assert.Equal(2, upstream.Hits);
    }

    [Fact]
    public async Task AFailingMemberCoolsDownAndIsSkippedWithoutBeingCalled()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.ServerError);
        var chain = Chain(Remote(upstream) with { Retries = 0, BreakerMinimumThroughput = 2, BreakerFailureRatio = 0.5, Cooldown = TimeSpan.FromMinutes(1) });
        await chain.CompleteAsync(new ChatRequest("1"));
        await chain.CompleteAsync(new ChatRequest("2"));
        var third = await chain.CompleteAsync(new ChatRequest("3"));
        Assert.Equal(2, upstream.Hits);
        Assert.Equal("local-3b", third.Member);
        Assert.Contains("cooling down", third.Attempts[0].Outcome, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheChainTriesMembersInOrder()
    {
        await using var overloaded = new FakeUpstream(_ => UpstreamBehaviour.Overloaded);
        await using var healthy = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        var chain = new FallbackChain([Remote(overloaded, "first") with { Retries = 0 }, Remote(healthy, "second"), new FallbackMember(local)]);
        var result = await chain.CompleteAsync(new ChatRequest("hi"));
        Assert.Equal("second", result.Member);
        Assert.Equal(["first", "second", "local-3b"], chain.Members);
    }

    [Fact]
    public async Task StreamingFallsBackUntilTheFirstPiece()
    {
        await using var failing = new FakeUpstream(_ => UpstreamBehaviour.ServerError);
        var answeredBy = new List<string>();
        var pieces = new List<string>();
        await foreach (var piece in Chain(Remote(failing) with { Retries = 0 }).StreamAsync(new ChatRequest("hi"), answeredBy.Add))
        {
            pieces.Add(piece);
        }

        Assert.Equal(["local-3b"], answeredBy);
        Assert.Equal("local answer", string.Concat(pieces));

        await using var healthy = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        pieces.Clear();
        await foreach (var piece in Chain(Remote(healthy)).StreamAsync(new ChatRequest("hi")))
        {
            pieces.Add(piece);
        }

        Assert.Equal(FakeUpstream.Pieces, pieces);
    }

    [Fact]
    public async Task AStreamThatBreaksAfterItsFirstPieceFailsInsteadOfSwitchingModels()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.AbortMidStream);
        var pieces = new List<string>();
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var piece in Chain(Remote(upstream)).StreamAsync(new ChatRequest("hi")))
            {
                pieces.Add(piece);
            }
        });
        Assert.Equal(FakeUpstream.Pieces[..2], pieces);
    }

    [Fact]
    public void TheLastMemberMustBeLocal()
    {
        var remote = new OpenAiCompatibleBackend("remote", http, new Uri("http://127.0.0.1:9/"), "m");
        Assert.Throws<ArgumentException>(() => new FallbackChain([new FallbackMember(remote)]));
        Assert.Throws<ArgumentException>(() => new FallbackChain([]));
    }

    private FallbackChain Chain(FallbackMember remote) => new([remote, new FallbackMember(local)]);

    private FallbackMember Remote(FakeUpstream upstream, string name = "remote") =>
        new(new OpenAiCompatibleBackend(name, http, upstream.Endpoint, "test-model"))
        {
            Retries = 1,
            RetryDelay = TimeSpan.FromMilliseconds(10),
            AttemptTimeout = TimeSpan.FromSeconds(5),
        };

    private static async IAsyncEnumerable<string> LocalAnswer(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        yield return "local ";
        yield return "answer";
    }
}
