using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using ModelRouter.Client;
using ModelRouter.Protocol;

namespace ModelRouter.Benchmarks.Protocol;

/// <summary>
/// The client and the wire against <see cref="Responder"/> (no models, no scheduler): a request round trip in
/// process (pipes) and over loopback TCP, and a 256-token stream (per token). The difference to a direct method call
/// is what the protocol adds; the real server's figures are in its own benchmarks.
/// </summary>
[BenchmarkCategory("protocol")]
public class ClientBenchmarks
{
    private readonly GenerateRequest generate = new() { Prompt = "p", MaxTokens = 256 };
    private ModelRouterClient pipeClient = null!;
    private ModelRouterClient tcpClient = null!;
    private Task pipeServed = Task.CompletedTask;
    private Task tcpServed = Task.CompletedTask;

    [GlobalSetup]
    public void Setup()
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        pipeServed = Task.Run(() => Responder.RunAsync(toServer.Reader, toClient.Writer));
        pipeClient = ModelRouterClient.ConnectAsync(new DuplexPipe(toClient.Reader, toServer.Writer), "t").GetAwaiter().GetResult();

        var (endpoint, served) = Responder.ListenOnce();
        tcpServed = served;
        tcpClient = ModelRouterClient.ConnectAsync(endpoint, "t").GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        pipeClient.DisposeAsync().AsTask().GetAwaiter().GetResult();
        tcpClient.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Task.WaitAll([pipeServed, tcpServed], TimeSpan.FromSeconds(5));
    }

    [Benchmark(Baseline = true)]
    public Task<TimeSpan> PingInProcessPipe() => pipeClient.PingAsync();

    [Benchmark]
    public Task<TimeSpan> PingLoopbackTcp() => tcpClient.PingAsync();

    [Benchmark(OperationsPerInvoke = 256)]
    public async Task<int> Stream256TokensInProcessPipe() => await Count(pipeClient).ConfigureAwait(false);

    [Benchmark(OperationsPerInvoke = 256)]
    public async Task<int> Stream256TokensLoopbackTcp() => await Count(tcpClient).ConfigureAwait(false);

    private async Task<int> Count(ModelRouterClient client)
    {
        var tokens = 0;
        await foreach (var chunk in client.GenerateAsync(generate).ConfigureAwait(false))
        {
            tokens += chunk.TokenCount;
        }

        return tokens;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
