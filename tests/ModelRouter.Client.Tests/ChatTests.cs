using System.Text;
using ModelRouter.Protocol;

namespace ModelRouter.Client.Tests;

/// <summary>Chat requests through the client against <see cref="FakeServer"/> (scripted by the last message's content).</summary>
public sealed class ChatTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private static Task<ModelRouterClient> Connect(FakeServer server) => ModelRouterClient.ConnectAsync(server.EndPoint, FakeServer.Token).WaitAsync(Guard);

    private static ChatGenerateRequest Chat(string last, string? model = null) => new()
    {
        Model = model,
        Messages = [new(ChatRoles.System, "Be brief."), new(ChatRoles.User, "Hi"), new(ChatRoles.Assistant, "Hello!"), new(ChatRoles.User, last)],
    };

    [Fact]
    public async Task StreamsAChatLikeAGeneration()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var request = new ChatGenerateRequest
        {
            Messages = [new(ChatRoles.System, "Be brief."), new(ChatRoles.User, "count:4:c")],
            MaxTokens = 32,
            Temperature = 0.25f,
            TopP = 0.5f,
            TopK = 7,
            Seed = 99,
            LatencyClass = LatencyClass.Realtime,
            CostBudget = 3,
            RequiredCapability = "chat",
            StopSequences = ["User:"],
        };

        var text = new StringBuilder();
        var chunks = 0;
        GenerationResult? result = null;
        await foreach (var chunk in client.ChatAsync(request).WithCancellation(CancellationToken.None))
        {
            if (chunk.IsFinal)
            {
                result = chunk.Result;
                break;
            }

            chunks++;
            text.Append(chunk.Text);
        }

        Assert.Equal("c-0 c-1 c-2 c-3 ", text.ToString());
        Assert.Equal(4, chunks);
        Assert.NotNull(result);
        Assert.Equal("routed-chat", result.Model);
        Assert.Equal("chat", result.TaskType);
        Assert.Equal(FinishReason.EndOfText, result.FinishReason);
        Assert.Equal(4, result.Stats.GeneratedTokens);
        Assert.Equal(0, client.InFlight);

        var received = Assert.Single(server.Chats);
        Assert.Null(received.Model);
        Assert.Equal(request.Messages, received.Messages);
        Assert.Equal(32, received.MaxTokens);
        Assert.Equal(0.25f, received.Temperature);
        Assert.Equal(0.5f, received.TopP);
        Assert.Equal(7, received.TopK);
        Assert.Equal(99UL, received.Seed);
        Assert.Equal(LatencyClass.Realtime, received.LatencyClass);
        Assert.Equal(3f, received.CostBudget);
        Assert.Equal("chat", received.RequiredCapability);
        Assert.Equal(["User:"], received.StopSequences);
    }

    [Fact]
    public async Task CompleteChatReturnsTheWholeMessage()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var result = await client.CompleteChatAsync(Chat("count:3", model: "coder")).WaitAsync(Guard);
        Assert.Equal("t-0 t-1 t-2 ", result.Text);
        Assert.Equal("coder", result.Model);
        Assert.Equal("", result.TaskType);
        Assert.Equal("coder", Assert.Single(server.Chats).Model);
    }

    [Theory]
    [InlineData(ErrorCode.UnknownModel)]
    [InlineData(ErrorCode.NoRouteMatched)]
    [InlineData(ErrorCode.PromptTooLong)]
    [InlineData(ErrorCode.UnexpectedFrame)]
    public async Task ErrorFramesBecomeTypedExceptionsAndTheConnectionLivesOn(ErrorCode code)
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        var error = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteChatAsync(Chat($"error:{(ushort)code}"))).WaitAsync(Guard);
        Assert.Equal(code, error.Code);
        Assert.NotEqual(0u, error.RequestId);
        Assert.IsNotType<ModelRouterConnectionException>(error);

        var streamed = await Assert.ThrowsAsync<ModelRouterException>(async () =>
        {
            await foreach (var chunk in client.ChatAsync(Chat($"error:{(ushort)code}")))
            {
            }
        }).WaitAsync(Guard);
        Assert.Equal(code, streamed.Code);

        Assert.True(client.IsConnected);
        Assert.Equal("t-0 ", (await client.CompleteChatAsync(Chat("count:1")).WaitAsync(Guard)).Text);
    }

    [Fact]
    public async Task CancellingAChatSendsACancelFrame()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        using var cts = new CancellationTokenSource();
        var seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in client.ChatAsync(Chat("slow:100000"), cts.Token))
            {
                if (++seen == 2)
                {
                    await cts.CancelAsync();
                }
            }
        }).WaitAsync(Guard);

        Assert.Equal(2, seen);
        await WaitUntil(() => !server.Cancels.IsEmpty);
        Assert.Single(server.Cancels);
        await WaitUntil(() => client.InFlight == 0);
        Assert.Equal("t-0 t-1 ", (await client.CompleteChatAsync(Chat("count:2")).WaitAsync(Guard)).Text);
    }

    [Fact]
    public async Task CancellingCompleteChatBeforeAnyTokenSendsACancelFrame()
    {
        await using var server = new FakeServer();
        await using var client = await Connect(server);
        using var cts = new CancellationTokenSource();
        var pending = client.CompleteChatAsync(Chat("hang"), cts.Token);
        await WaitUntil(() => server.RequestsSeen == 1);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending).WaitAsync(Guard);
        await WaitUntil(() => !server.Cancels.IsEmpty);
        await WaitUntil(() => client.InFlight == 0); // the server's error 305 retired the id
    }

    [Fact]
    public async Task LocalChecksRefuseAChatBeforeSending()
    {
        await using var server = new FakeServer(); // announces max prompt 1024 bytes
        await using var client = await Connect(server);

        var none = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteChatAsync(new ChatGenerateRequest { Messages = [] })).WaitAsync(Guard);
        Assert.Equal(ErrorCode.InvalidArgument, none.Code);

        var tooMany = Enumerable.Repeat(new ChatRequestMessage(ChatRoles.User, "x"), ProtocolLimits.DefaultMaxChatMessages + 1).ToArray();
        var many = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteChatAsync(new ChatGenerateRequest { Messages = tooMany })).WaitAsync(Guard);
        Assert.Equal(ErrorCode.InvalidArgument, many.Code);

        var role = await Assert.ThrowsAsync<ModelRouterException>(
            () => client.CompleteChatAsync(new ChatGenerateRequest { Messages = [new("developer", "x")] })).WaitAsync(Guard);
        Assert.Equal(ErrorCode.InvalidArgument, role.Code);

        // Each message is within 1024 bytes; together they are not.
        var split = new ChatGenerateRequest { Messages = [new(ChatRoles.System, new string('s', 600)), new(ChatRoles.User, new string('u', 600))] };
        var tooLong = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteChatAsync(split)).WaitAsync(Guard);
        Assert.Equal(ErrorCode.PromptTooLong, tooLong.Code);

        var tokens = await Assert.ThrowsAsync<ModelRouterException>(
            () => client.CompleteChatAsync(new ChatGenerateRequest { Messages = [new(ChatRoles.User, "x")], MaxTokens = 1_000_000 })).WaitAsync(Guard);
        Assert.Equal(ErrorCode.MaxTokensExceeded, tokens.Code);

        Assert.Equal(0, server.RequestsSeen);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task ChatsAndGenerationsShareOneConnection()
    {
        await using var server = new FakeServer(maxRequestsInFlight: 4);
        await using var client = await Connect(server);
        var tasks = Enumerable.Range(0, 40).Select(async i =>
        {
            var count = 1 + (i % 5);
            var tag = $"q{i}";
            var expected = string.Concat(Enumerable.Range(0, count).Select(k => $"{tag}-{k} "));
            var result = i % 2 == 0
                ? await client.CompleteChatAsync(Chat($"count:{count}:{tag}"))
                : await client.CompleteAsync(new GenerateRequest { Prompt = $"count:{count}:{tag}" });
            Assert.Equal(expected, result.Text);
        });
        await Task.WhenAll(tasks).WaitAsync(Guard);
        Assert.Equal(20, server.Chats.Count);
        Assert.Equal(0, server.TooManyInFlightErrors);
        Assert.Equal(0, client.InFlight);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Guard;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("condition not reached");
            }

            await Task.Delay(5);
        }
    }
}
