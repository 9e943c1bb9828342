using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ModelRouter.Routing.Fallback;
using ModelRouter.Runtime.Chat;

namespace ModelRouter.Routing.Tests.Fallback;

public sealed class RemoteChainTests : IDisposable
{
    private static readonly RemoteChatRequest Hello = new(
        [new ChatTurn("system", "Be brief."), new ChatTurn("user", "hi"), new ChatTurn("assistant", "hello"), new ChatTurn("user", "again")],
        MaxTokens: 64)
    {
        Temperature = 0.5f,
        TopP = 0.9f,
        Stop = ["\n\n", "END"],
        Seed = 42,
        User = "alice",
    };

    // The chain owns timeouts; the HttpClient's own must not cut a long stream short.
    private readonly HttpClient http = new() { Timeout = Timeout.InfiniteTimeSpan };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => http.Dispose();

    [Fact(Timeout = 60_000)]
    public async Task TheFirstRemoteAnswersWithItsTextUsageAndFinishReason()
    {
        await using var first = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        await using var second = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        var attempts = new List<ChainAttempt>();
        await using var answer = await new RemoteChain([Remote(first, "first"), Remote(second, "second")], http).OpenAsync(Hello, attempts, Ct);

        Assert.NotNull(answer);
        Assert.Equal("first", answer.Member);
        Assert.Equal(FakeUpstream.Pieces, await Pieces(answer));
        Assert.Equal((FakeUpstream.PromptTokens, FakeUpstream.CompletionTokens), answer.Usage);
        Assert.Equal("stop", answer.FinishReason);
        Assert.Equal([new ChainAttempt("first", true, "answered")], attempts);
        Assert.Equal((1, 0), (first.Hits, second.Hits));
    }

    [Fact(Timeout = 60_000)]
    public async Task TheRequestCarriesTheModelRolesSamplingStopAndKey()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        await using (await new RemoteChain([Remote(upstream) with { ApiKey = "sk-test" }], http).OpenAsync(Hello, [], Ct))
        {
        }

        var received = Assert.Single(upstream.Requests);
        Assert.Equal("/v1/chat/completions", received.Path);
        Assert.Equal("Bearer sk-test", received.Authorization);
        using var body = JsonDocument.Parse(received.Body);
        var root = body.RootElement;
        Assert.Equal("test-model", root.GetProperty("model").GetString());
        Assert.True(root.GetProperty("stream").GetBoolean());
        Assert.Equal(
            [("system", "Be brief."), ("user", "hi"), ("assistant", "hello"), ("user", "again")],
            root.GetProperty("messages").EnumerateArray().Select(m => (m.GetProperty("role").GetString(), Text(m.GetProperty("content")))).ToArray());
        // The SDK spells the limit the current way; llama.cpp's server and vLLM accept it beside max_tokens.
        Assert.Equal(64, root.GetProperty("max_completion_tokens").GetInt32());
        Assert.Equal(0.5, root.GetProperty("temperature").GetDouble(), 3);
        Assert.Equal(0.9, root.GetProperty("top_p").GetDouble(), 3);
        Assert.Equal(["\n\n", "END"], root.GetProperty("stop").EnumerateArray().Select(s => s.GetString()!).ToArray());
        Assert.Equal(42, root.GetProperty("seed").GetInt64());
        Assert.Equal("alice", root.GetProperty("user").GetString());
    }

    [Fact(Timeout = 60_000)]
    public async Task WithoutAKeyARemoteIsStillCalled()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        await using (await new RemoteChain([Remote(upstream)], http).OpenAsync(Hello, [], Ct))
        {
        }

        Assert.StartsWith("Bearer ", Assert.Single(upstream.Requests).Authorization, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task AServerErrorIsRetriedOnTheSameRemote()
    {
        await using var upstream = new FakeUpstream(n => n == 1 ? UpstreamBehaviour.ServerError : UpstreamBehaviour.Ok);
        var attempts = new List<ChainAttempt>();
        await using var answer = await new RemoteChain([Remote(upstream)], http).OpenAsync(Hello, attempts, Ct);

        Assert.Equal("remote", answer?.Member);
        Assert.Equal(2, upstream.Hits);
        Assert.Equal([new ChainAttempt("remote", true, "answered (2 tries)")], attempts);
    }

    [Theory(Timeout = 60_000)]
    [InlineData(UpstreamBehaviour.RateLimitedRetrySoon)]
    [InlineData(UpstreamBehaviour.OverloadedRetrySoon)]
    public async Task AShortRetryAfterIsWaitedForThenTheSameRemoteIsRetried(UpstreamBehaviour behaviour)
    {
        await using var upstream = new FakeUpstream(n => n == 1 ? behaviour : UpstreamBehaviour.Ok);
        var clock = new ShiftedClock();
        await using var answer = await new RemoteChain([Remote(upstream)], http, clock).OpenAsync(Hello, [], Ct);

        Assert.Equal("remote", answer?.Member);
        Assert.Equal(2, upstream.Hits);
        // RetryDelay is 10 ms, so a one-second wait can only be the upstream's Retry-After.
        Assert.Contains(TimeSpan.FromSeconds(1), clock.TimerDueTimes);
    }

    [Fact(Timeout = 60_000)]
    public async Task ALongRetryAfterMovesOnAtOnce()
    {
        await using var limited = new FakeUpstream(_ => UpstreamBehaviour.RateLimitedRetryLater);
        await using var healthy = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        var attempts = new List<ChainAttempt>();
        await using var answer = await new RemoteChain([Remote(limited, "limited"), Remote(healthy, "healthy")], http).OpenAsync(Hello, attempts, Ct);

        Assert.Equal("healthy", answer?.Member);
        Assert.Equal(1, limited.Hits);
        Assert.False(attempts[0].Succeeded);
        Assert.Contains("RateLimited (HTTP 429)", attempts[0].Outcome, StringComparison.Ordinal);
        Assert.Contains("Retry-After 30 s", attempts[0].Outcome, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task ARejectedRequestIsNotRetried()
    {
        await using var rejecting = new FakeUpstream(_ => UpstreamBehaviour.BadRequest);
        await using var healthy = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        var attempts = new List<ChainAttempt>();
        await using var answer = await new RemoteChain([Remote(rejecting, "rejecting"), Remote(healthy, "healthy")], http).OpenAsync(Hello, attempts, Ct);

        Assert.Equal("healthy", answer?.Member);
        Assert.Equal(1, rejecting.Hits);
        Assert.Contains("Rejected (HTTP 400)", attempts[0].Outcome, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task AHangingRemoteTimesOutAndTheNextAnswers()
    {
        await using var hanging = new FakeUpstream(_ => UpstreamBehaviour.Hang);
        await using var healthy = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        var attempts = new List<ChainAttempt>();
        var slow = Remote(hanging, "hanging") with { Retries = 0, AttemptTimeout = TimeSpan.FromMilliseconds(300) };
        await using var answer = await new RemoteChain([slow, Remote(healthy, "healthy")], http).OpenAsync(Hello, attempts, Ct);

        Assert.Equal("healthy", answer?.Member);
        Assert.Equal(FakeUpstream.Pieces, await Pieces(answer!));
        Assert.Contains("timed out after 300 ms", attempts[0].Outcome, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task WhenEveryRemoteFailsTheChainReturnsNullWithOneLinePerMember()
    {
        await using var failing = new FakeUpstream(_ => UpstreamBehaviour.ServerError);
        await using var rejecting = new FakeUpstream(_ => UpstreamBehaviour.BadRequest);
        await using var hanging = new FakeUpstream(_ => UpstreamBehaviour.Hang);
        var attempts = new List<ChainAttempt>();
        var chain = new RemoteChain(
            [
                Remote(failing, "failing"),
                Remote(rejecting, "rejecting"),
                Remote(hanging, "hanging") with { Retries = 0, AttemptTimeout = TimeSpan.FromMilliseconds(200) },
                Remote(Unreachable(), "unreachable"),
            ],
            http);

        Assert.Null(await chain.OpenAsync(Hello, attempts, Ct));
        Assert.Equal(["failing", "rejecting", "hanging", "unreachable"], attempts.Select(a => a.Member));
        Assert.All(attempts, a => Assert.False(a.Succeeded));
        Assert.Contains("ServerError (HTTP 500)", attempts[0].Outcome, StringComparison.Ordinal);
        Assert.Contains("(2 tries)", attempts[0].Outcome, StringComparison.Ordinal);
        Assert.Contains("Rejected (HTTP 400)", attempts[1].Outcome, StringComparison.Ordinal);
        Assert.Contains("timed out after 200 ms", attempts[2].Outcome, StringComparison.Ordinal);
        // No response at all is a network failure (retried like any transient one), not an HTTP status.
        Assert.Contains("HttpRequestException", attempts[3].Outcome, StringComparison.Ordinal);
        Assert.Contains("(2 tries)", attempts[3].Outcome, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task ARemoteThatKeepsFailingIsSkippedWithoutARequestUntilItsCooldownEnds()
    {
        await using var upstream = new FakeUpstream(n => n <= 2 ? UpstreamBehaviour.ServerError : UpstreamBehaviour.Ok);
        var clock = new ShiftedClock();
        var chain = new RemoteChain(
            [Remote(upstream) with { Retries = 0, BreakerMinimumThroughput = 2, BreakerFailureRatio = 0.5, Cooldown = TimeSpan.FromMinutes(1) }],
            http,
            clock);

        Assert.Null(await chain.OpenAsync(Hello, [], Ct));
        Assert.Null(await chain.OpenAsync(Hello, [], Ct));
        var attempts = new List<ChainAttempt>();
        Assert.Null(await chain.OpenAsync(Hello, attempts, Ct));
        Assert.Equal(2, upstream.Hits);
        Assert.Contains("cooling down", Assert.Single(attempts).Outcome, StringComparison.Ordinal);

        clock.Advance(TimeSpan.FromMinutes(1.5));
        await using var answer = await chain.OpenAsync(Hello, [], Ct);
        Assert.Equal("remote", answer?.Member);
        Assert.Equal(3, upstream.Hits);
    }

    [Fact(Timeout = 60_000)]
    public async Task AStreamThatBreaksAfterItsFirstPieceThrowsNamingTheRemote()
    {
        await using var breaking = new FakeUpstream(_ => UpstreamBehaviour.AbortMidStream);
        await using var healthy = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        await using var answer = await new RemoteChain([Remote(breaking, "breaking"), Remote(healthy, "healthy")], http).OpenAsync(Hello, [], Ct);
        Assert.Equal("breaking", answer?.Member);

        var pieces = new List<string>();
        var error = await Assert.ThrowsAsync<UpstreamException>(async () =>
        {
            await foreach (var piece in answer!.ReadAllAsync(Ct))
            {
                pieces.Add(piece);
            }
        });
        Assert.Equal("breaking", error.Member);
        Assert.Equal(FakeUpstream.Pieces[..2], pieces);
        Assert.Equal((1, 0), (breaking.Hits, healthy.Hits)); // the answer stays with the remote that began it
    }

    [Fact(Timeout = 60_000)]
    public async Task CancellingWhileARemoteHangsThrowsAndDoesNotTripTheBreaker()
    {
        await using var upstream = new FakeUpstream(n => n <= 2 ? UpstreamBehaviour.Hang : UpstreamBehaviour.Ok);
        var chain = new RemoteChain(
            [Remote(upstream) with { Retries = 0, AttemptTimeout = TimeSpan.FromMinutes(1), BreakerMinimumThroughput = 2, BreakerFailureRatio = 0.5 }],
            http);

        for (var i = 0; i < 2; i++)
        {
            using var caller = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var attempts = new List<ChainAttempt>();
            var opening = chain.OpenAsync(Hello, attempts, caller.Token);

            // Cancel once the remote holds this request (a fixed delay raced a cold first call under load).
            await upstream.WaitForHitsAsync(i + 1).WaitAsync(TimeSpan.FromSeconds(30), Ct);
            await caller.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => opening);
            Assert.Empty(attempts);
        }

        // Two cancelled requests would have opened a breaker that counted them; the remote is still tried.
        await using var answer = await chain.OpenAsync(Hello, [], Ct);
        Assert.Equal("remote", answer?.Member);
        Assert.Equal(3, upstream.Hits);
    }

    [Fact(Timeout = 60_000)]
    public async Task AStreamWithoutTextIsAnEmptyAnswer()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Empty);
        await using var answer = await new RemoteChain([Remote(upstream)], http).OpenAsync(Hello, [], Ct);

        Assert.NotNull(answer);
        Assert.Empty(await Pieces(answer));
        Assert.Equal("stop", answer.FinishReason);
        Assert.Equal((FakeUpstream.PromptTokens, FakeUpstream.CompletionTokens), answer.Usage);
    }

    [Fact(Timeout = 60_000)]
    public async Task AnAnswerIsReadOnce()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        await using var answer = await new RemoteChain([Remote(upstream)], http).OpenAsync(Hello, [], Ct);
        _ = await Pieces(answer!);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Pieces(answer!));
    }

    [Fact(Timeout = 60_000)]
    public async Task ARequestNoRemoteCouldAnswerIsRefusedBeforeAnyIsCalled()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        var chain = new RemoteChain([Remote(upstream)], http);

        await Assert.ThrowsAsync<ArgumentException>(() => chain.OpenAsync(Hello with { Messages = [new ChatTurn("tool", "42")] }, [], Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => chain.OpenAsync(Hello with { Messages = [] }, [], Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => chain.OpenAsync(Hello with { MaxTokens = 0 }, [], Ct));
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public void TheChainKeepsItsOrderAndRefusesBadConfiguration()
    {
        var a = new RemoteEndpoint("a", new Uri("http://127.0.0.1:9/"), "m");
        var b = a with { Name = "b" };
        Assert.Equal(["a", "b"], new RemoteChain([a, b], http).Members);
        Assert.Empty(new RemoteChain([], http).Members);

        Assert.Throws<ArgumentException>(() => new RemoteChain([a, a], http));
        Assert.Throws<ArgumentException>(() => new RemoteChain([a with { AttemptTimeout = TimeSpan.Zero }], http));
        Assert.Throws<ArgumentException>(() => new RemoteChain([a with { Cooldown = TimeSpan.FromSeconds(-1) }], http));
        Assert.Throws<ArgumentException>(() => new RemoteChain([a with { Retries = -1 }], http));
        Assert.Throws<ArgumentException>(() => new RemoteChain([a with { BreakerFailureRatio = 0 }], http));
        Assert.Throws<ArgumentException>(() => new RemoteChain([a with { BreakerMinimumThroughput = 1 }], http));
        Assert.Throws<ArgumentException>(() => new RemoteChain([a with { Model = " " }], http));
        Assert.Throws<ArgumentException>(() => new RemoteChain([a with { Endpoint = new Uri("ftp://example.com/") }], http));
        var error = Assert.Throws<ArgumentException>(() => (a with { RetryDelay = TimeSpan.Zero }).Validate());
        Assert.Contains("RetryDelay", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RetryAfterIsReadAsSecondsOrAsAnHttpDate()
    {
        var now = new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(5), OpenAiRemote.ParseRetryAfter("5", now));
        Assert.Equal(TimeSpan.FromSeconds(10), OpenAiRemote.ParseRetryAfter(now.AddSeconds(10).ToString("r", CultureInfo.InvariantCulture), now));
        Assert.Equal(TimeSpan.Zero, OpenAiRemote.ParseRetryAfter(now.AddSeconds(-10).ToString("r", CultureInfo.InvariantCulture), now));
        Assert.Null(OpenAiRemote.ParseRetryAfter("soon", now));
        Assert.Null(OpenAiRemote.ParseRetryAfter(null, now));
    }

    private static RemoteEndpoint Remote(FakeUpstream upstream, string name = "remote") => Remote(upstream.Endpoint, name);

    private static RemoteEndpoint Remote(Uri endpoint, string name) =>
        new(name, endpoint, "test-model")
        {
            Retries = 1,
            RetryDelay = TimeSpan.FromMilliseconds(10),
            AttemptTimeout = TimeSpan.FromSeconds(5),
            MaxRetryAfter = TimeSpan.FromSeconds(2),
        };

    /// <summary>A loopback address where nothing listens (the port was just freed), so connecting is refused.</summary>
    private static Uri Unreachable()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return new Uri($"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}/");
    }

    private static async Task<List<string>> Pieces(RemoteAnswer answer)
    {
        var pieces = new List<string>();
        await foreach (var piece in answer.ReadAllAsync(Ct))
        {
            pieces.Add(piece);
        }

        return pieces;
    }

    /// <summary>The SDK may send a message's content as a string or as an array of text parts.</summary>
    private static string Text(JsonElement content) =>
        content.ValueKind == JsonValueKind.String ? content.GetString()! : string.Concat(content.EnumerateArray().Select(p => p.GetProperty("text").GetString()));
}
