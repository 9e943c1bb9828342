using System.Net;
using System.Net.Sockets;
using System.Text;
using ModelRouter.Protocol;

namespace ModelRouter.Client.Tests;

/// <summary>The client against <see cref="FakeServer"/> on loopback. Timeouts only guard against hangs; nothing is timed.</summary>
public sealed class ClientTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private static Task<ModelRouterClient> Connect(FakeServer server, string token = FakeServer.Token, ModelRouterClientOptions? options = null) =>
        ModelRouterClient.ConnectAsync(server.EndPoint, token, options).WaitAsync(Guard);

    private static async Task<(string Text, GenerationResult Result, int Chunks)> Collect(IAsyncEnumerable<GenerationChunk> stream)
    {
        var text = new StringBuilder();
        var chunks = 0;
        await foreach (var chunk in stream)
        {
            if (chunk.IsFinal)
            {
                Assert.Equal("", chunk.Text);
                return (text.ToString(), chunk.Result!, chunks);
            }

            chunks++;
            text.Append(chunk.Text);
        }

        throw new InvalidOperationException("the stream ended without a final chunk");
    }

    [Fact(Timeout = 60_000)]
    public async Task HandshakeAnnouncesTheServersLimits()
    {
        await using var server = new FakeServer(maxRequestsInFlight: 5);
        await using var client = await Connect(server);
        Assert.True(client.IsConnected);
        Assert.False(client.Server.IsAdmin);
        Assert.Equal(5, client.Server.MaxRequestsInFlight);
        Assert.Equal("fake", client.Server.ServerName);

        await using var admin = await Connect(server, FakeServer.AdminToken);
        Assert.True(admin.Server.IsAdmin);
    }

    [Fact(Timeout = 60_000)]
    public async Task WrongTokenIsAuthenticationFailed()
    {
        await using var server = new FakeServer();
        var error = await Assert.ThrowsAsync<ModelRouterConnectionException>(() => Connect(server, "wrong"));
        Assert.Equal(ErrorCode.AuthenticationFailed, error.Code);
    }

    [Fact(Timeout = 60_000)]
    public async Task NothingListeningIsASocketError()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var endpoint = probe.LocalEndPoint!; // bound, never listening
        await Assert.ThrowsAsync<SocketException>(() => ModelRouterClient.ConnectAsync(endpoint, "t").WaitAsync(Guard));
    }

    [Fact(Timeout = 60_000)]
    public async Task StreamsChunksThenTheResultWithStats()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var (text, result, chunks) = await Collect(client.GenerateAsync(new GenerateRequest { Prompt = "count:5:w" })).WaitAsync(Guard);
        Assert.Equal("w-0 w-1 w-2 w-3 w-4 ", text);
        Assert.Equal(5, chunks);
        Assert.Equal("routed-chat", result.Model);
        Assert.Equal("chat", result.TaskType);
        Assert.Equal(FinishReason.EndOfText, result.FinishReason);
        Assert.Equal(5, result.Stats.GeneratedTokens);
        Assert.Equal(TimeSpan.FromTicks(10), result.Stats.RouteTime);
        Assert.Equal(4_000, result.Stats.TimeToFirstTokenNanos);
        Assert.Equal(0, client.InFlight);
    }

    [Fact(Timeout = 60_000)]
    public async Task CompleteReturnsTheWholeText()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var result = await client.CompleteAsync(new GenerateRequest { Prompt = "count:3", Model = "coder", RequiredCapability = "code" }).WaitAsync(Guard);
        Assert.Equal("t-0 t-1 t-2 ", result.Text);
        Assert.Equal("coder", result.Model);
        Assert.Equal("", result.TaskType);
    }

    [Fact(Timeout = 60_000)]
    public async Task ManyConcurrentRequestsOnOneConnectionNeverMixAndRespectTheInFlightLimit()
    {
        await using var server = new FakeServer(maxRequestsInFlight: 8);
        await using var client = await Connect(server);
        const int Requests = 200;
        var tasks = Enumerable.Range(0, Requests).Select(async i =>
        {
            var count = 1 + (i % 17);
            var tag = $"r{i}";
            if (i % 10 == 3)
            {
                var route = await client.RouteAsync(new RouteRequest { Prompt = tag, RequiredCapability = tag });
                Assert.Equal("routed-" + tag, route.Model);
                return;
            }

            if (i % 10 == 7)
            {
                var embedding = await client.EmbedAsync(tag + new string('e', count));
                Assert.Equal(tag.Length + count, embedding.Vector.Length);
                return;
            }

            var (text, result, chunks) = await Collect(client.GenerateAsync(new GenerateRequest { Prompt = $"count:{count}:{tag}" }));
            Assert.Equal(string.Concat(Enumerable.Range(0, count).Select(k => $"{tag}-{k} ")), text);
            Assert.Equal(count, chunks);
            Assert.Equal(count, result.Stats.GeneratedTokens);
        }).ToArray();

        await Task.WhenAll(tasks).WaitAsync(Guard);
        Assert.Equal(0, server.TooManyInFlightErrors);
        Assert.InRange(server.MaxInFlightSeen, 1, 8);
        Assert.Equal(Requests, server.RequestsSeen);
        Assert.Equal(0, client.InFlight);
    }

    [Fact(Timeout = 60_000)]
    public async Task CancellingTheTokenSendsACancelFrame()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        using var cts = new CancellationTokenSource();
        var seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in client.GenerateAsync(new GenerateRequest { Prompt = "slow:100000" }, cts.Token))
            {
                if (++seen == 3)
                {
                    await cts.CancelAsync();
                }
            }
        }).WaitAsync(Guard);

        Assert.Equal(3, seen);
        await WaitUntil(() => !server.Cancels.IsEmpty);
        Assert.Single(server.Cancels);
        await WaitUntil(() => client.InFlight == 0); // the slot frees when the server's done (cancelled) arrives

        var after = await client.CompleteAsync(new GenerateRequest { Prompt = "count:2" }).WaitAsync(Guard);
        Assert.Equal("t-0 t-1 ", after.Text);
    }

    [Fact(Timeout = 60_000)]
    public async Task LeavingTheEnumerationEarlyCancelsTheRequest()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        await foreach (var chunk in client.GenerateAsync(new GenerateRequest { Prompt = "slow:100000" }).WithCancellation(CancellationToken.None))
        {
            break;
        }

        await WaitUntil(() => !server.Cancels.IsEmpty);
        await WaitUntil(() => client.InFlight == 0);
    }

    [Fact(Timeout = 60_000)]
    public async Task CancellingAUnaryRequestSendsACancelFrame()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        using var cts = new CancellationTokenSource();
        var route = client.RouteAsync("hang", cts.Token);
        await WaitUntil(() => server.RequestsSeen == 1);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => route).WaitAsync(Guard);
        await WaitUntil(() => !server.Cancels.IsEmpty);
        await WaitUntil(() => client.InFlight == 0); // the server's error 305 retired the id
    }

    [Theory]
    [InlineData(ErrorCode.UnknownModel)]
    [InlineData(ErrorCode.Overloaded)]
    [InlineData(ErrorCode.PromptTooLong)]
    [InlineData(ErrorCode.NoRouteMatched)]
    [InlineData((ErrorCode)4242)]
    public async Task ErrorFramesBecomeTypedExceptionsAndTheConnectionLivesOn(ErrorCode code)
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var error = await Assert.ThrowsAsync<ModelRouterException>(
            () => client.CompleteAsync(new GenerateRequest { Prompt = $"error:{(ushort)code}" })).WaitAsync(Guard);
        Assert.Equal(code, error.Code);
        Assert.NotEqual(0u, error.RequestId);
        Assert.Contains($"scripted error {(ushort)code}", error.Message, StringComparison.Ordinal);
        Assert.IsNotType<ModelRouterConnectionException>(error);

        Assert.True(client.IsConnected);
        Assert.Equal("t-0 ", (await client.CompleteAsync(new GenerateRequest { Prompt = "count:1" }).WaitAsync(Guard)).Text);
    }

    [Fact(Timeout = 60_000)]
    public async Task AdminNeedsTheAdminToken()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var error = await Assert.ThrowsAsync<ModelRouterException>(() => client.PinAsync("small")).WaitAsync(Guard);
        Assert.Equal(ErrorCode.AdminRequired, error.Code);

        await using var admin = await Connect(server, FakeServer.AdminToken);
        foreach (var (call, operation) in new (Func<string, CancellationToken, Task<AdminResult>>, AdminOperation)[]
        {
            (admin.PreloadAsync, AdminOperation.Preload), (admin.PinAsync, AdminOperation.Pin),
            (admin.UnpinAsync, AdminOperation.Unpin), (admin.EvictAsync, AdminOperation.Evict),
        })
        {
            var result = await call("small", CancellationToken.None).WaitAsync(Guard);
            Assert.Equal(operation, result.Operation);
            Assert.Equal("small", result.Model);
            Assert.Equal(ModelTier.Gpu, result.Tier);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task RouteEmbedListStatsAndPing()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var route = await client.RouteAsync(new RouteRequest { Prompt = "fix my code", RequiredCapability = "code", LatencyClass = LatencyClass.Batch }).WaitAsync(Guard);
        Assert.Equal("routed-code", route.Model);
        Assert.Equal("latency Batch", route.Reason);
        Assert.Equal("tiny", Assert.Single(route.Fallbacks));

        var embedding = await client.EmbedAsync("abc", "embedder").WaitAsync(Guard);
        Assert.Equal("embedder", embedding.Model);
        Assert.Equal([0f, 1f, 2f], embedding.Vector.AsEnumerable());

        var models = await client.ListModelsAsync().WaitAsync(Guard);
        Assert.Equal(["small", "coder"], models.Select(m => m.Name));
        Assert.Equal(ModelTier.Host, models[1].Tier);

        var stats = await client.GetStatsAsync().WaitAsync(Guard);
        Assert.Equal(1, stats.Connections);

        Assert.True(await client.PingAsync().WaitAsync(Guard) > TimeSpan.Zero);
    }

    [Theory]
    [InlineData("vanish")]
    [InlineData("reset")]
    public async Task AServerThatVanishesMidStreamFailsEveryPendingRequest(string how)
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var hanging = client.RouteAsync("hang");
        await WaitUntil(() => server.RequestsSeen == 1);

        var received = new StringBuilder();
        var error = await Assert.ThrowsAsync<ModelRouterConnectionException>(async () =>
        {
            await foreach (var chunk in client.GenerateAsync(new GenerateRequest { Prompt = how }))
            {
                received.Append(chunk.Text);
            }
        }).WaitAsync(Guard);
        Assert.Equal(ErrorCode.ConnectionClosed, error.Code);
        if (how == "vanish")
        {
            Assert.Equal("ab", received.ToString());
        }
        else
        {
            Assert.StartsWith(received.ToString(), "ab", StringComparison.Ordinal); // a reset may discard what was unread
        }

        var other = await Assert.ThrowsAsync<ModelRouterConnectionException>(() => hanging).WaitAsync(Guard);
        Assert.Equal(ErrorCode.ConnectionClosed, other.Code);
        await client.Completion.WaitAsync(Guard);
        Assert.False(client.IsConnected);
        Assert.Equal(0, client.InFlight);
        await Assert.ThrowsAsync<ModelRouterConnectionException>(() => client.ListModelsAsync()).WaitAsync(Guard);
    }

    [Fact(Timeout = 60_000)]
    public async Task AServerSendingGarbageClosesTheConnectionWithBadFrame()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var error = await Assert.ThrowsAsync<ModelRouterConnectionException>(
            () => client.CompleteAsync(new GenerateRequest { Prompt = "garbage" })).WaitAsync(Guard);
        Assert.Equal(ErrorCode.BadFrame, error.Code);
        Assert.False(client.IsConnected);
    }

    [Fact(Timeout = 60_000)]
    public async Task GoAwayDrainsInFlightAndRefusesNewRequests()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var result = await client.CompleteAsync(new GenerateRequest { Prompt = "goaway" }).WaitAsync(Guard);
        Assert.Equal("t-0 t-1 t-2 ", result.Text);
        Assert.True(client.IsDraining);
        var error = await Assert.ThrowsAsync<ModelRouterException>(() => client.ListModelsAsync()).WaitAsync(Guard);
        Assert.Equal(ErrorCode.ShuttingDown, error.Code);
    }

    [Fact(Timeout = 60_000)]
    public async Task DisposingFailsPendingRequests()
    {
        await using var server = new FakeServer();
        var client = await Connect(server);
        var hanging = client.RouteAsync("hang");
        await WaitUntil(() => server.RequestsSeen == 1);
        await client.DisposeAsync().AsTask().WaitAsync(Guard);
        var error = await Assert.ThrowsAsync<ModelRouterConnectionException>(() => hanging).WaitAsync(Guard);
        Assert.Equal(ErrorCode.ConnectionClosed, error.Code);
        Assert.False(client.IsConnected);
    }

    [Fact(Timeout = 60_000)]
    public async Task TheClientAnswersTheServersPing()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        await client.CompleteAsync(new GenerateRequest { Prompt = "ping-me" }).WaitAsync(Guard);
        await WaitUntil(() => server.Pongs.Contains(77UL));
    }

    [Fact(Timeout = 60_000)]
    public async Task DisposingWhileAConsumerStallsTheReadLoopCompletes()
    {
        await using var server = new FakeServer();
        var client = await Connect(server, options: new ModelRouterClientOptions { MaxBufferedChunksPerRequest = 1 });
        var stream = client.GenerateAsync(new GenerateRequest { Prompt = "count:1000" }).GetAsyncEnumerator();
        Assert.True(await stream.MoveNextAsync().AsTask().WaitAsync(Guard));

        // The consumer never reads again, so with a one-chunk buffer the read loop blocks on the next chunk and stays
        // blocked: it is there now or gets there before it could read anything else. Dispose must complete either way
        // (no sleep to pick one state: the assertion holds in both).
        await client.DisposeAsync().AsTask().WaitAsync(Guard);
        await Assert.ThrowsAsync<ModelRouterConnectionException>(async () =>
        {
            while (await stream.MoveNextAsync())
            {
            }
        }).WaitAsync(Guard);
        await stream.DisposeAsync();
    }

    [Fact(Timeout = 60_000)]
    public async Task LocalLimitsAreCheckedBeforeSending()
    {
        await using var server = new FakeServer(); // announces max prompt 1024 bytes
        await using var client = await Connect(server);
        var tooLong = await Assert.ThrowsAsync<ModelRouterException>(
            () => client.CompleteAsync(new GenerateRequest { Prompt = new string('☃', 400) })).WaitAsync(Guard); // 1200 bytes
        Assert.Equal(ErrorCode.PromptTooLong, tooLong.Code);
        var tooMany = await Assert.ThrowsAsync<ModelRouterException>(
            () => client.CompleteAsync(new GenerateRequest { Prompt = "x", MaxTokens = 1_000_000 })).WaitAsync(Guard);
        Assert.Equal(ErrorCode.MaxTokensExceeded, tooMany.Code);
        var empty = await Assert.ThrowsAsync<ModelRouterException>(() => client.EmbedAsync("")).WaitAsync(Guard);
        Assert.Equal(ErrorCode.InvalidArgument, empty.Code);
        Assert.Equal(0, server.RequestsSeen);
        Assert.True(client.IsConnected);
    }

    [Fact(Timeout = 60_000)]
    public async Task ASlowConsumerGetsEveryChunkInOrderThroughASmallBuffer()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server, options: new ModelRouterClientOptions { MaxBufferedChunksPerRequest = 2 });
        var expected = 0;
        await foreach (var chunk in client.GenerateAsync(new GenerateRequest { Prompt = "count:300" }).WithCancellation(CancellationToken.None))
        {
            if (chunk.IsFinal)
            {
                break;
            }

            Assert.Equal($"t-{expected++} ", chunk.Text);
            if (expected % 50 == 0)
            {
                await Task.Yield(); // give the read loop a turn to refill the buffer (order is what is checked, not pacing)
            }
        }

        Assert.Equal(300, expected);
    }

    [Fact(Timeout = 60_000)]
    public async Task WorksOverAUnixDomainSocket()
    {
        Assert.SkipUnless(Socket.OSSupportsUnixDomainSockets, "this OS has no Unix domain sockets");
        await using var server = new FakeServer(unixSocket: true);
        await using var client = await Connect(server);
        var result = await client.CompleteAsync(new GenerateRequest { Prompt = "count:4:u" }).WaitAsync(Guard);
        Assert.Equal("u-0 u-1 u-2 u-3 ", result.Text);
    }

    /// <summary>Waits for a condition on the fake server's state (it raises no event); bounded by <see cref="Guard"/>.</summary>
    private static async Task WaitUntil(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Guard);
        while (!condition())
        {
            try
            {
                await Task.Delay(5, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("condition not reached");
            }
        }
    }
}
