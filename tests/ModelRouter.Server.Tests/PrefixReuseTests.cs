using System.ClientModel;
using ModelRouter.Client;
using ModelRouter.Protocol;
using OpenAI;
using OpenAI.Chat;

namespace ModelRouter.Server.Tests;

/// <summary>
/// Prefix reuse through a live server: a chat's second turn (the whole conversation sent again, as chat clients do)
/// reuses the first turn's KV cells and says so in usage.prompt_tokens_details.cached_tokens and the done frame.
/// </summary>
public sealed class PrefixReuseTests
{
    private const string Question = "Once upon a time there was a";

    // Room for two turns of chatml (stories260K spells its tags out in several tokens each).
    private static readonly string[] Args =
        ["--ModelRouter:Http=http://127.0.0.1:0", "--ModelRouter:Models:0:ChatTemplate=chatml", "--ModelRouter:Scheduler:ContextPerSequence=512"];

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static ChatClient Chat(TestServer server) =>
        new OpenAIClient(new ApiKeyCredential(TestServer.Token), new OpenAIClientOptions
        {
            Endpoint = new Uri(server.Http!, "/v1"),
            RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0),
        }).GetChatClient("m0");

    private static ChatCompletionOptions Greedy(int tokens) => new() { MaxOutputTokenCount = tokens, Temperature = 0 };

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_second_chat_turn_reports_most_of_the_first_turns_prompt_as_cached()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, Args);
        var (first, second, _) = await TwoTurnsAsync(server, between: null);

        Assert.Equal(0, first.Usage.InputTokenDetails.CachedTokenCount);
        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount >= 0.9 * first.Usage.InputTokenCount,
            $"{second.Usage.InputTokenDetails.CachedTokenCount} cached of the first turn's {first.Usage.InputTokenCount} prompt tokens");
        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount < second.Usage.InputTokenCount);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_second_turn_is_a_cache_hit_after_an_admin_evict_and_restore_and_answers_as_without_reuse()
    {
        using var models = TestModels.Create(1);
        string expected;
        await using (var cold = await TestServer.StartAsync(models, residentModels: 1, [.. Args, "--ModelRouter:Scheduler:PrefixCacheTokens=0"]))
        {
            var (_, second, _) = await TwoTurnsAsync(cold, between: null);
            Assert.Equal(0, second.Usage.InputTokenDetails.CachedTokenCount);
            expected = second.Content[0].Text;
        }

        await using var server = await TestServer.StartAsync(models, residentModels: 1, Args);
        var (first, reused, evictions) = await TwoTurnsAsync(server, between: EvictAsync);

        Assert.True(evictions > 0);
        Assert.Equal(expected, reused.Content[0].Text);
        Assert.True(reused.Usage.InputTokenDetails.CachedTokenCount >= 0.9 * first.Usage.InputTokenCount,
            $"{reused.Usage.InputTokenDetails.CachedTokenCount} cached of the first turn's {first.Usage.InputTokenCount} prompt tokens");
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_socket_done_frame_carries_the_cached_prompt_tokens()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, Args);
        await using var client = await server.ConnectAsync();
        Assert.True(client.Server.Version >= ProtocolConstants.CachedTokensVersion);
        var prompt = "Once upon a time there was a little girl named Lily. She loved to play outside with her";

        var first = await client.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = prompt, MaxTokens = 8, Temperature = 0 }, Cancel);
        var second = await client.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = prompt + first.Text, MaxTokens = 8, Temperature = 0 }, Cancel);

        Assert.Equal(0, first.Stats.CachedPromptTokens);
        Assert.True(second.Stats.CachedPromptTokens >= first.Stats.PromptTokens,
            $"{second.Stats.CachedPromptTokens} cached; the first prompt had {first.Stats.PromptTokens} tokens");
    }

    /// <summary>Turn 1, then (optionally) something between, then turn 2 with the whole conversation; returns both and how many evictions happened between.</summary>
    private static async Task<(ChatCompletion First, ChatCompletion Second, int Evictions)> TwoTurnsAsync(TestServer server, Func<TestServer, Task<int>>? between)
    {
        var chat = Chat(server);
        List<ChatMessage> conversation = [new UserChatMessage(Question)];
        ChatCompletion first = await chat.CompleteChatAsync(conversation, Greedy(24), Cancel);
        var evictions = between is null ? 0 : await between(server);
        conversation.Add(new AssistantChatMessage(first.Content[0].Text));
        conversation.Add(new UserChatMessage("What happened next?"));
        ChatCompletion second = await chat.CompleteChatAsync(conversation, Greedy(16), Cancel);
        return (first, second, evictions);
    }

    /// <summary>
    /// Evicts m0 once its worker has let the lease go (it lingers briefly for more requests after an answer, and an evict
    /// is refused while a lease is open); the next request restores it.
    /// </summary>
    private static async Task<int> EvictAsync(TestServer server)
    {
        await using var admin = await server.ConnectAsync(TestServer.AdminToken);
        for (var attempt = 0; attempt < 500; attempt++)
        {
            if ((await admin.EvictAsync("m0", Cancel)).Message == "evicted")
            {
                return 1;
            }

            await Task.Delay(10, Cancel); // a bounded retry of a refused evict, not a wait standing in for a signal
        }

        Assert.Fail("m0 was never idle long enough to evict");
        return 0;
    }
}
