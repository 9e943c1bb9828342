using System.Net.Sockets;
using ModelRouter.Client;
using ModelRouter.Protocol;

namespace ModelRouter.Server.Tests;

/// <summary>The main job over real sockets: many clients, several models, forced swaps, faults.</summary>
public sealed class EndToEndTests
{
    private static GenerateRequest Story(string? model) => new() { Model = model, Prompt = TestModels.Prompt, MaxTokens = 60, Temperature = 0 };

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Sixty_four_concurrent_clients_across_models_with_forced_swaps_get_their_own_answers()
    {
        using var models = TestModels.Create(3);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);
        var reference = TestModels.Reference(60);

        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            await using var client = await server.ConnectAsync();
            var result = await client.CompleteAsync(Story($"m{i % 3}"), TestContext.Current.CancellationToken);
            return (Index: i, Result: result);
        })).WaitAsync(TimeSpan.FromMinutes(3), TestContext.Current.CancellationToken);

        Assert.All(results, r =>
        {
            Assert.Equal(reference, r.Result.Text);
            Assert.Equal($"m{r.Index % 3}", r.Result.Model);
            Assert.Equal(60, r.Result.Stats.GeneratedTokens);
        });
        Assert.All(server.Service.Pool.Snapshot(), s => Assert.True(s.Restores >= 1));
        Assert.Contains(results, r => r.Result.Stats.SwapNanos > 0);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Many_requests_multiplexed_on_one_connection_are_not_mixed_up()
    {
        using var models = TestModels.Create(2);
        await using var server = await TestServer.StartAsync(models, residentModels: 2);
        await using var client = await server.ConnectAsync();

        var prompts = new[] { "Once upon a time", "The little dog", "Lily and her mom", "One day, Tom" };
        var solo = new Dictionary<string, string>();
        foreach (var prompt in prompts)
        {
            solo[prompt] = (await client.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = prompt, MaxTokens = 30, Temperature = 0 }, TestContext.Current.CancellationToken)).Text;
        }

        var together = await Task.WhenAll(Enumerable.Range(0, 24).Select(async i =>
        {
            var prompt = prompts[i % prompts.Length];
            var result = await client.CompleteAsync(new GenerateRequest { Model = $"m{i % 2}", Prompt = prompt, MaxTokens = 30, Temperature = 0 }, TestContext.Current.CancellationToken);
            return (prompt, result.Text);
        }));

        Assert.All(together, t => Assert.Equal(solo[t.prompt], t.Text));
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Routed_requests_are_served_and_report_their_route()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);
        await using var client = await server.ConnectAsync();

        var result = await client.CompleteAsync(Story(null), TestContext.Current.CancellationToken);
        var decision = await client.RouteAsync("write me a poem", TestContext.Current.CancellationToken);

        Assert.Equal("m0", result.Model);
        Assert.Equal("chat", result.TaskType);
        Assert.Equal("m0", decision.Model);
        Assert.Equal("chat", decision.TaskType);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Cancel_stops_generation_and_the_connection_keeps_working()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);
        await using var client = await server.ConnectAsync();
        using var cts = new CancellationTokenSource();

        var chunks = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in client.GenerateAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 4000, Temperature = 0 }, cts.Token))
            {
                if (++chunks == 3)
                {
                    await cts.CancelAsync();
                }
            }
        });

        var after = await client.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken);
        Assert.Equal(TestModels.Reference(60), after.Text);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_client_that_vanishes_mid_stream_frees_its_slot()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Scheduler:MaxBatchPerModel=1");
        var client = await server.ConnectAsync();
        var stream = client.GenerateAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 4000, Temperature = 0 }, TestContext.Current.CancellationToken).GetAsyncEnumerator(TestContext.Current.CancellationToken);
        Assert.True(await stream.MoveNextAsync());
        await client.DisposeAsync(); // gone without a cancel frame

        // With one slot, this can only finish if the vanished client's sequence was freed.
        await using var other = await server.ConnectAsync();
        var result = await other.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
        Assert.Equal(TestModels.Reference(60), result.Text);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Wrong_token_unknown_model_and_admin_without_rights_get_clear_errors()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);

        var refused = await Assert.ThrowsAsync<ModelRouterConnectionException>(async () => await server.ConnectAsync("wrong"));
        Assert.Equal(ErrorCode.AuthenticationFailed, refused.Code);

        await using var client = await server.ConnectAsync();
        var unknown = await Assert.ThrowsAsync<ModelRouterException>(async () => await client.CompleteAsync(Story("nope"), TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.UnknownModel, unknown.Code);
        var admin = await Assert.ThrowsAsync<ModelRouterException>(async () => await client.EvictAsync("m0", TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.AdminRequired, admin.Code);

        await using var root = await server.ConnectAsync(TestServer.AdminToken);
        var preload = await root.PreloadAsync("m0", TestContext.Current.CancellationToken);
        Assert.Equal(Protocol.ModelState.Ready, preload.State);
        var models2 = await root.ListModelsAsync(TestContext.Current.CancellationToken);
        Assert.Equal("m0", Assert.Single(models2).Name);
        Assert.Equal("evicted", (await root.EvictAsync("m0", TestContext.Current.CancellationToken)).Message);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_malformed_frame_closes_only_its_own_connection()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1);
        await using var healthy = await server.ConnectAsync();

        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(server.Endpoint, TestContext.Current.CancellationToken);
            var stream = raw.GetStream();
            await stream.WriteAsync(new byte[] { 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8 }, TestContext.Current.CancellationToken);
            // Everything the server sends until it closes (a fixed buffer could fill up and pass for a close).
            using var received = new MemoryStream();
            await stream.CopyToAsync(received, TestContext.Current.CancellationToken);

            // docs/protocol.md: a malformed header gets an error on request 0, then the connection closes.
            var bytes = new System.Buffers.ReadOnlySequence<byte>(received.ToArray());
            Assert.True(FrameReader.TryReadFrame(ref bytes, ProtocolLimits.Default, out var frame), $"{received.Length} bytes, not one whole frame");
            Assert.Equal(FrameType.Error, frame.Type);
            Assert.Equal(0u, frame.RequestId);
        }

        var result = await healthy.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken);
        Assert.Equal(TestModels.Reference(60), result.Text);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_server_restarts_cleanly()
    {
        using var models = TestModels.Create(1);
        for (var run = 0; run < 2; run++)
        {
            await using var server = await TestServer.StartAsync(models, residentModels: 1);
            await using var client = await server.ConnectAsync();
            Assert.Equal(TestModels.Reference(60), (await client.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken)).Text);
        }
    }
}
