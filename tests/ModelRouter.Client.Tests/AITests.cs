using System.Net;
using Microsoft.Extensions.AI;
using ModelRouter.Client.AI;
using ModelRouter.Protocol;

namespace ModelRouter.Client.Tests;

/// <summary>The Microsoft.Extensions.AI adapters against <see cref="FakeServer"/>: what goes on the wire, and what comes back.</summary>
public sealed class AITests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private static Task<ModelRouterClient> Connect(FakeServer server) => ModelRouterClient.ConnectAsync(server.EndPoint, FakeServer.Token).WaitAsync(Guard);

    private static ChatMessage[] Conversation(string last) =>
    [
        new(ChatRole.System, "Be brief."),
        new(ChatRole.User, "Hi"),
        new(ChatRole.Assistant, "Hello!"),
        new(ChatRole.User, last),
    ];

    [Fact]
    public async Task AChatMapsItsOptionsAndReturnsTextModelFinishReasonUsageAndStats()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var chat = router.AsChatClient();
        var options = new ChatOptions
        {
            Temperature = 0.3f,
            TopP = 0.7f,
            TopK = 5,
            MaxOutputTokens = 64,
            StopSequences = ["END"],
            Seed = 11,
            AdditionalProperties = new()
            {
                [ModelRouterAIProperties.LatencyClass] = "batch",
                [ModelRouterAIProperties.Capability] = "code",
                [ModelRouterAIProperties.MaxCost] = 2.5,
            },
        };

        var response = await chat.GetResponseAsync(Conversation("count:3:a"), options).WaitAsync(Guard);

        Assert.Equal("a-0 a-1 a-2 ", response.Text);
        Assert.Equal(ChatRole.Assistant, Assert.Single(response.Messages).Role);
        Assert.Equal("routed-code", response.ModelId);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.NotNull(response.Usage);
        Assert.Equal(3, response.Usage.InputTokenCount);
        Assert.Equal(3, response.Usage.OutputTokenCount);
        Assert.Equal(6, response.Usage.TotalTokenCount);
        var properties = response.AdditionalProperties!;
        Assert.Equal("chat", properties[ModelRouterAIProperties.TaskType]);
        Assert.Equal(TimeSpan.FromTicks(10), properties[ModelRouterAIProperties.RouteTime]);
        Assert.Equal(TimeSpan.FromTicks(20), properties[ModelRouterAIProperties.QueueWait]);
        Assert.Equal(TimeSpan.FromTicks(30), properties[ModelRouterAIProperties.SwapTime]);
        Assert.Equal(TimeSpan.FromTicks(40), properties[ModelRouterAIProperties.TimeToFirstToken]);
        Assert.Equal(100f, properties[ModelRouterAIProperties.TokensPerSecond]);
        Assert.Equal(5_000, Assert.IsType<GenerationStats>(properties[ModelRouterAIProperties.Stats]).TotalNanos);

        var received = Assert.Single(server.Chats);
        Assert.Null(received.Model); // no model id, no default: route for me
        Assert.Equal(
            [new(ChatRoles.System, "Be brief."), new(ChatRoles.User, "Hi"), new(ChatRoles.Assistant, "Hello!"), new ChatRequestMessage(ChatRoles.User, "count:3:a")],
            received.Messages);
        Assert.Equal(0.3f, received.Temperature);
        Assert.Equal(0.7f, received.TopP);
        Assert.Equal(5, received.TopK);
        Assert.Equal(64, received.MaxTokens);
        Assert.Equal(["END"], received.StopSequences);
        Assert.Equal(11UL, received.Seed);
        Assert.Equal(LatencyClass.Batch, received.LatencyClass);
        Assert.Equal("code", received.RequiredCapability);
        Assert.Equal(2.5f, received.CostBudget);
    }

    [Fact]
    public async Task TheModelIsTheOptionsElseTheDefaultElseRouted()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var chat = router.AsChatClient("coder");

        var byDefault = await chat.GetResponseAsync(Conversation("count:1")).WaitAsync(Guard);
        Assert.Equal("coder", byDefault.ModelId);
        var named = await chat.GetResponseAsync(Conversation("count:1"), new ChatOptions { ModelId = "writer" }).WaitAsync(Guard);
        Assert.Equal("writer", named.ModelId);
        Assert.Equal(["coder", "writer"], server.Chats.Select(c => c.Model));

        // Unset options keep the protocol's defaults; instructions become a leading system message.
        var received = server.Chats.First();
        Assert.Equal(new ChatGenerateRequest { Messages = [] }.Temperature, received.Temperature);
        Assert.Equal(0, received.MaxTokens);
        Assert.Equal(LatencyClass.Unspecified, received.LatencyClass);
        Assert.Null(received.RequiredCapability);

        await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "count:1")], new ChatOptions { Instructions = "Answer in French." }).WaitAsync(Guard);
        Assert.Equal([new(ChatRoles.System, "Answer in French."), new ChatRequestMessage(ChatRoles.User, "count:1")], server.Chats.Last().Messages);
    }

    [Fact]
    public async Task AStreamedChatEndsWithModelFinishReasonUsageAndStats()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var chat = router.AsChatClient();
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in chat.GetStreamingResponseAsync(Conversation("count:4:s"), new ChatOptions { ModelId = "small" }).WithCancellation(CancellationToken.None))
        {
            updates.Add(update);
        }

        Assert.Equal(5, updates.Count);
        Assert.Equal(["s-0 ", "s-1 ", "s-2 ", "s-3 ", ""], updates.Select(u => u.Text));
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        var last = updates[^1];
        Assert.Equal("small", last.ModelId);
        Assert.Equal(ChatFinishReason.Stop, last.FinishReason);
        Assert.Equal(TimeSpan.FromTicks(40), last.AdditionalProperties![ModelRouterAIProperties.TimeToFirstToken]);

        var response = updates.ToChatResponse();
        Assert.Equal("s-0 s-1 s-2 s-3 ", response.Text);
        Assert.Equal("small", response.ModelId);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(3, response.Usage!.InputTokenCount);
        Assert.Equal(4, response.Usage.OutputTokenCount);
        Assert.Equal("small", Assert.Single(server.Chats).Model);
    }

    [Fact]
    public async Task MaxTokensIsFinishReasonLength()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var chat = router.AsChatClient();
        var response = await chat.GetResponseAsync(Conversation("slow:2")).WaitAsync(Guard);
        Assert.Equal("xx", response.Text);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
    }

    [Fact]
    public async Task ErrorFramesSurfaceAsModelRouterExceptions()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var chat = router.AsChatClient();
        var error = await Assert.ThrowsAsync<ModelRouterException>(() => chat.GetResponseAsync(Conversation("error:301"))).WaitAsync(Guard);
        Assert.Equal(ErrorCode.UnknownModel, error.Code);
        var streamed = await Assert.ThrowsAsync<ModelRouterException>(async () =>
        {
            await foreach (var update in chat.GetStreamingResponseAsync(Conversation("error:304")))
            {
            }
        }).WaitAsync(Guard);
        Assert.Equal(ErrorCode.NoRouteMatched, streamed.Code);
    }

    [Fact]
    public async Task CancellingAChatSendsACancelFrame()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var chat = router.AsChatClient();

        using var cts = new CancellationTokenSource();
        var pending = chat.GetResponseAsync(Conversation("hang"), cancellationToken: cts.Token);
        await WaitUntil(() => server.RequestsSeen == 1);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending).WaitAsync(Guard);
        await WaitUntil(() => server.Cancels.Count == 1);

        var seen = 0;
        await foreach (var update in chat.GetStreamingResponseAsync(Conversation("slow:100000")).WithCancellation(CancellationToken.None))
        {
            if (++seen == 2)
            {
                break; // leaving early cancels the request
            }
        }

        await WaitUntil(() => server.Cancels.Count == 2);
        await WaitUntil(() => router.InFlight == 0);
    }

    [Fact]
    public async Task ResponseFormatsMapToTheOutputFormatByte()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        var chat = new ModelRouterChatClient(router);
        ChatMessage[] messages = [new ChatMessage(ChatRole.User, "x")];
        using var schema = System.Text.Json.JsonDocument.Parse("""{"type":"object","properties":{"a":{"type":"integer"}}}""");

        var none = chat.ToRequest(messages);
        var text = chat.ToRequest(messages, new ChatOptions { ResponseFormat = ChatResponseFormat.Text });
        var json = chat.ToRequest(messages, new ChatOptions { ResponseFormat = ChatResponseFormat.Json });
        var typed = chat.ToRequest(messages, new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema.RootElement, "thing") });

        Assert.Equal(OutputFormat.Text, none.OutputFormat);
        Assert.Equal(OutputFormat.Text, text.OutputFormat);
        Assert.Equal(OutputFormat.JsonObject, json.OutputFormat);
        Assert.Null(json.OutputSpec);
        Assert.Equal(OutputFormat.JsonSchema, typed.OutputFormat);
        Assert.Equal(schema.RootElement.GetRawText(), typed.OutputSpec);
    }

    [Fact]
    public async Task RolesMapAndOthersAreRefused()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        var chat = new ModelRouterChatClient(router);
        var tool = new ChatMessage(ChatRole.Tool, [new FunctionResultContent("call-1", "{\"temp\":21}")]);
        var request = chat.ToRequest([new ChatMessage(ChatRole.User, "weather?"), tool]);
        Assert.Equal([new(ChatRoles.User, "weather?"), new ChatRequestMessage(ChatRoles.Tool, "{\"temp\":21}")], request.Messages);

        Assert.Throws<ArgumentException>(() => chat.ToRequest([new ChatMessage(new ChatRole("developer"), "x")]));
        var badLatency = new ChatOptions { AdditionalProperties = new() { [ModelRouterAIProperties.LatencyClass] = "soon" } };
        Assert.Throws<ArgumentException>(() => chat.ToRequest([new ChatMessage(ChatRole.User, "x")], badLatency));
        var badCost = new ChatOptions { AdditionalProperties = new() { [ModelRouterAIProperties.MaxCost] = -1 } };
        Assert.Throws<ArgumentException>(() => chat.ToRequest([new ChatMessage(ChatRole.User, "x")], badCost));
        var enumLatency = new ChatOptions { AdditionalProperties = new() { [ModelRouterAIProperties.LatencyClass] = LatencyClass.Realtime } };
        Assert.Equal(LatencyClass.Realtime, chat.ToRequest([new ChatMessage(ChatRole.User, "x")], enumLatency).LatencyClass);
    }

    [Fact]
    public async Task GetServiceNamesTheProviderEndpointAndModelAndHandsOutTheRouter()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var chat = router.AsChatClient("coder");
        var metadata = chat.GetService<ChatClientMetadata>();
        Assert.NotNull(metadata);
        Assert.Equal("modelrouter", metadata.ProviderName);
        Assert.Equal("coder", metadata.DefaultModelId);
        var endpoint = (IPEndPoint)server.EndPoint;
        Assert.Equal(new Uri($"tcp://127.0.0.1:{endpoint.Port}"), metadata.ProviderUri);
        Assert.Same(router, chat.GetService<ModelRouterClient>());
        Assert.Same(chat, chat.GetService<IChatClient>());
        Assert.Null(chat.GetService<ModelRouterClient>("some key"));

        using var embedder = router.AsEmbeddingGenerator("embedder");
        var embedMetadata = embedder.GetService<EmbeddingGeneratorMetadata>();
        Assert.Equal("modelrouter", embedMetadata!.ProviderName);
        Assert.Equal("embedder", embedMetadata.DefaultModelId);
        Assert.Same(router, embedder.GetService<ModelRouterClient>());
    }

    [Fact]
    public async Task DisposingTheAdaptersLeavesASharedRouterOpenAndClosesAnOwnedOne()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        router.AsChatClient().Dispose();
        router.AsEmbeddingGenerator().Dispose();
        Assert.True(router.IsConnected);

        var owned = await Connect(server);
        await new ModelRouterChatClient(owned, ownsRouter: true).DisposeAsync();
        Assert.False(owned.IsConnected);
    }

    [Fact]
    public async Task EmbeddingsComeBackInOrderWithModelAndUsage()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var embedder = router.AsEmbeddingGenerator();
        string[] inputs = ["a", "bcd", "ef", "ghij", "k"];

        var embeddings = await embedder.GenerateAsync(inputs).WaitAsync(Guard);
        Assert.Equal(inputs.Length, embeddings.Count);
        Assert.Equal(inputs.Select(i => i.Length), embeddings.Select(e => e.Vector.Length)); // the fake's vector is as long as the text
        Assert.All(embeddings, e => Assert.Equal("embed-default", e.ModelId));
        Assert.Equal([0f, 1f, 2f], embeddings[1].Vector.ToArray());
        Assert.Equal(inputs.Sum(i => i.Length), embeddings.Usage!.InputTokenCount);
        Assert.All(server.Embeds, e => Assert.Null(e.Model));
        Assert.All(server.Embeds, e => Assert.True(e.Normalize));

        using var named = router.AsEmbeddingGenerator("embedder");
        var one = await named.GenerateAsync(["xy"]).WaitAsync(Guard);
        Assert.Equal("embedder", Assert.Single(one).ModelId);
        var other = await named.GenerateAsync(["xy"], new EmbeddingGenerationOptions
        {
            ModelId = "other",
            AdditionalProperties = new() { [ModelRouterAIProperties.Normalize] = false },
        }).WaitAsync(Guard);
        Assert.Equal("other", Assert.Single(other).ModelId);
        Assert.False(server.Embeds.Last().Normalize);

        var single = await embedder.GenerateVectorAsync("abc").WaitAsync(Guard);
        Assert.Equal(3, single.Length);

        await Assert.ThrowsAsync<NotSupportedException>(
            () => embedder.GenerateAsync(["abc"], new EmbeddingGenerationOptions { Dimensions = 8 })).WaitAsync(Guard);
    }

    [Fact]
    public async Task CancellingEmbeddingsCancelsTheRequests()
    {
        await using var server = new FakeServer();
        await using var router = await Connect(server);
        using var embedder = router.AsEmbeddingGenerator();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => embedder.GenerateAsync(["a", "b"], cancellationToken: cts.Token)).WaitAsync(Guard);
        Assert.True(router.IsConnected);
        Assert.Single(await embedder.GenerateAsync(["still works"]).WaitAsync(Guard));
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
