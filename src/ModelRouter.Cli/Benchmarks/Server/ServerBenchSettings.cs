namespace ModelRouter.Cli.Benchmarks.Server;

/// <summary>One bench-server configuration.</summary>
public sealed record ServerBenchSettings
{
    /// <summary>The GGUF served (a small model: the figures are about the protocol, not the model).</summary>
    public required string ModelPath { get; init; }

    /// <summary>Sequential round trips timed for each latency row.</summary>
    public int Requests { get; init; } = 2000;

    /// <summary>Requests in flight on the one connection for the frames/s row.</summary>
    public int Pipeline { get; init; } = 64;

    /// <summary>How long the frames/s row runs.</summary>
    public TimeSpan FramesDuration { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Tokens per streamed generation in the token-stream row.</summary>
    public int StreamTokens { get; init; } = 256;

    /// <summary>Streamed generations per side (in-process and each socket).</summary>
    public int Streams { get; init; } = 10;

    /// <summary>CPU threads of the model's context (the server's Scheduler:Threads; 0: llama.cpp's default).</summary>
    public int Threads { get; init; }

    /// <summary>Also measure over a Unix domain socket (Linux, macOS).</summary>
    public bool UnixSocket { get; init; } = !OperatingSystem.IsWindows();

    /// <summary>Also measure the OpenAI-compatible HTTP door (loopback, one keep-alive connection).</summary>
    public bool Http { get; init; } = true;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Requests, 10, "--requests");
        ArgumentOutOfRangeException.ThrowIfLessThan(Pipeline, 1, "--pipeline");
        ArgumentOutOfRangeException.ThrowIfLessThan(StreamTokens, 1, "--stream-tokens");
        ArgumentOutOfRangeException.ThrowIfLessThan(Streams, 1, "--streams");
        ArgumentOutOfRangeException.ThrowIfNegative(Threads, "--threads");
        if (FramesDuration <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException("--frames-seconds", "must be positive");
        }

        if (!File.Exists(ModelPath))
        {
            throw new FileNotFoundException($"model file '{ModelPath}' does not exist", ModelPath);
        }
    }
}
