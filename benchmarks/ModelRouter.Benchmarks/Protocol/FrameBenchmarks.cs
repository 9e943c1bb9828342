using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using ModelRouter.Protocol;

namespace ModelRouter.Benchmarks.Protocol;

/// <summary>
/// Writing and reading one frame of the hot message kinds, as a server and a client do per token: write into a
/// reused buffer writer, frame it with <see cref="FrameReader"/>, parse the payload view. Must allocate nothing.
/// </summary>
[BenchmarkCategory("protocol")]
public class FrameBenchmarks
{
    private static readonly ProtocolLimits Limits = ProtocolLimits.Default;
    private readonly ArrayBufferWriter<byte> output = new(64 * 1024);
    private readonly byte[] piece = Encoding.UTF8.GetBytes(" world");
    private GenerateRequest generate = null!;
    private GenerationStats stats;
    private ReadOnlySequence<byte> splitChunk;

    [GlobalSetup]
    public void Setup()
    {
        generate = new GenerateRequest
        {
            Prompt = "Write a C# function that parses a length-prefixed binary frame from a ReadOnlySequence<byte>, checks the " +
                "declared length against a limit before waiting for the body, and returns false when more data is needed.",
            MaxTokens = 256,
            LatencyClass = LatencyClass.Interactive,
            RequiredCapability = "code",
            StopSequences = ["\n\n"],
        };
        stats = new GenerationStats
        {
            FinishReason = FinishReason.EndOfText, PromptTokens = 40, GeneratedTokens = 256, TokensPerSecond = 120,
            RouteNanos = 3_000, QueueWaitNanos = 100_000, SwapNanos = 30_000_000, TimeToFirstTokenNanos = 45_000_000, TotalNanos = 2_000_000_000,
        };

        var writer = new ArrayBufferWriter<byte>();
        FrameWriter.WriteTokenChunk(writer, 7, piece, 1);
        var bytes = writer.WrittenMemory;
        splitChunk = TwoSegments(bytes, 20); // header and the first bytes in one segment, the rest in the next
    }

    /// <summary>A token chunk: the per-token cost of streaming.</summary>
    [Benchmark(Baseline = true)]
    public int WriteReadTokenChunk()
    {
        output.ResetWrittenCount();
        FrameWriter.WriteTokenChunk(output, 7, piece, 1);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
        FrameReader.TryReadFrame(ref buffer, Limits, out var frame);
        using var payload = frame.LeasePayload();
        return MessageReader.ReadTokenChunk(payload.Span).Text.Length;
    }

    /// <summary>A token chunk whose payload straddles two pipe segments (pooled copy).</summary>
    [Benchmark]
    public int ReadSplitTokenChunk()
    {
        var buffer = splitChunk;
        FrameReader.TryReadFrame(ref buffer, Limits, out var frame);
        using var payload = frame.LeasePayload();
        return MessageReader.ReadTokenChunk(payload.Span).Text.Length;
    }

    /// <summary>A routed generate request with a 220-byte prompt: the per-request cost of the wire.</summary>
    [Benchmark]
    public int WriteReadGenerate()
    {
        output.ResetWrittenCount();
        FrameWriter.WriteGenerate(output, 8, generate);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
        FrameReader.TryReadFrame(ref buffer, Limits, out var frame);
        using var payload = frame.LeasePayload();
        var request = MessageReader.ReadGenerate(payload.Span, Limits);
        return request.Prompt.Length + request.MaxTokens;
    }

    /// <summary>The done frame with its statistics.</summary>
    [Benchmark]
    public long WriteReadDone()
    {
        output.ResetWrittenCount();
        FrameWriter.WriteDone(output, 8, stats, "llama-3.2-1b", "code");
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
        FrameReader.TryReadFrame(ref buffer, Limits, out var frame);
        using var payload = frame.LeasePayload();
        return MessageReader.ReadDone(payload.Span, Limits).Stats.TotalNanos;
    }

    /// <summary>256 token chunks written back to back then framed and read: a whole streamed answer.</summary>
    [Benchmark(OperationsPerInvoke = 256)]
    public int Stream256TokenChunks()
    {
        output.ResetWrittenCount();
        for (var i = 0; i < 256; i++)
        {
            FrameWriter.WriteTokenChunk(output, 7, piece, 1);
        }

        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
        var total = 0;
        while (FrameReader.TryReadFrame(ref buffer, Limits, out var frame))
        {
            using var payload = frame.LeasePayload();
            total += MessageReader.ReadTokenChunk(payload.Span).Text.Length;
        }

        return total;
    }

    private static ReadOnlySequence<byte> TwoSegments(ReadOnlyMemory<byte> bytes, int cut)
    {
        var first = new Segment(bytes[..cut]);
        var second = first.Append(bytes[cut..]);
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
