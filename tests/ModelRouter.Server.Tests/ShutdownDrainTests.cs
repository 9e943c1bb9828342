using ModelRouter.Client;
using ModelRouter.Protocol;

namespace ModelRouter.Server.Tests;

/// <summary>
/// Stopping the host (SIGTERM, Ctrl+C) while requests stream over the socket: the listener stops accepting, every
/// accepted request ends with exactly one terminal frame (its done frame when the shutdown timeout allows, else error
/// 403 shutting-down), never silence, and a request sent during the drain is refused with 403.
/// </summary>
public sealed class ShutdownDrainTests
{
    private const int Streams = 12;

    private static Task<TestServer> StartAsync(TestModels models) =>
        TestServer.StartAsync(models, residentModels: 1,
            "--ModelRouter:Scheduler:ContextPerSequence=512", "--ModelRouter:Scheduler:MaxBatchPerModel=16",
            "--ModelRouter:Limits:MaxTokens=300");

    [Fact(Timeout = 300_000)]
    public async Task Streams_in_flight_at_stop_all_end_with_their_done_frame_and_a_new_request_gets_shutting_down()
    {
        using var models = TestModels.Create(1);
        await using var server = await StartAsync(models);
        await using var client = await server.ConnectAsync();
        var started = Enumerable.Range(0, Streams).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var streams = Enumerable.Range(0, Streams).Select(i => StreamAsync(client, started[i], maxTokens: 300)).ToArray();
        await Task.WhenAll(started.Select(s => s.Task)).WaitAsync(TestContext.Current.CancellationToken);

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120)); // long enough for every stream
        var stop = server.StopAsync(deadline.Token);
        var refused = await Assert.ThrowsAsync<ModelRouterException>(() =>
            client.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 4 }, TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.ShuttingDown, refused.Code);
        await stop;

        foreach (var outcome in await Task.WhenAll(streams))
        {
            var result = Assert.IsType<GenerationResult>(outcome.Result); // a done frame, not an error or a closed connection
            Assert.NotEqual(FinishReason.Cancelled, result.Stats.FinishReason);
            Assert.True(outcome.Chunks > 0);
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task At_the_shutdown_deadline_every_unfinished_stream_gets_a_shutting_down_error_never_silence()
    {
        using var models = TestModels.Create(1);
        await using var server = await StartAsync(models);
        await using var client = await server.ConnectAsync();
        var started = Enumerable.Range(0, Streams).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var streams = Enumerable.Range(0, Streams).Select(i => StreamAsync(client, started[i], maxTokens: 300)).ToArray();
        await Task.WhenAll(started.Select(s => s.Task)).WaitAsync(TestContext.Current.CancellationToken);

        await server.StopAsync(new CancellationToken(canceled: true)); // the deadline has passed already

        var outcomes = await Task.WhenAll(streams);
        foreach (var outcome in outcomes)
        {
            // Exactly one terminal frame each: done, or 403; a connection that closed first would show as 900.
            Assert.True(outcome.Result is not null || outcome.Error == ErrorCode.ShuttingDown,
                $"a stream ended with {outcome.Error} instead of done or shutting-down");
        }

        Assert.Contains(outcomes, o => o.Error == ErrorCode.ShuttingDown); // 300 tokens each cannot all be done at once
    }

    private sealed record Outcome(GenerationResult? Result, ErrorCode Error, int Chunks);

    private static async Task<Outcome> StreamAsync(ModelRouterClient client, TaskCompletionSource started, int maxTokens)
    {
        var chunks = 0;
        try
        {
            await foreach (var chunk in client.GenerateAsync(
                new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = maxTokens, Temperature = 0.8f, Seed = 7 },
                TestContext.Current.CancellationToken))
            {
                chunks++;
                started.TrySetResult();
                if (chunk.Result is { } result)
                {
                    return new Outcome(result, ErrorCode.None, chunks);
                }
            }

            return new Outcome(null, ErrorCode.ConnectionClosed, chunks);
        }
        catch (ModelRouterException ex)
        {
            started.TrySetResult();
            return new Outcome(null, ex.Code, chunks);
        }
    }
}
