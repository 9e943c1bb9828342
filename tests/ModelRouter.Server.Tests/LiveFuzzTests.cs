using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using ModelRouter.Protocol;
using ModelRouter.Protocol.Tests;

namespace ModelRouter.Server.Tests;

/// <summary>
/// 100,000 mutated and random frames against a live server over several connections: the server never crashes or
/// hangs, memory stays bounded, every bad frame gets an error frame or a closed connection, and a well-behaved
/// connection alongside keeps getting correct answers.
/// </summary>
public sealed class LiveFuzzTests
{
    private const int Inputs = 100_000;
    private const int Connections = 8;

    [Fact]
    public async Task A_hundred_thousand_mutated_frames_leave_the_server_and_other_clients_healthy()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Limits:MaxTokens=8", "--ModelRouter:Limits:MaxRequestsInFlightPerConnection=16");
        await using var healthy = await server.ConnectAsync();
        var reference = (await healthy.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 8, Temperature = 0 }, TestContext.Current.CancellationToken)).Text;

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        var stopwatch = Stopwatch.StartNew();
        var counters = await Task.WhenAll(Enumerable.Range(0, Connections).Select(c => FuzzAsync(server, seed: 1000 + c, Inputs / Connections)));
        stopwatch.Stop();

        var errors = counters.Sum(c => c.ErrorFrames);
        var closed = counters.Sum(c => c.Closed);
        var waiting = counters.Sum(c => c.Waiting);
        var other = counters.Sum(c => c.OtherResponses);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Inputs} fuzz inputs over {Connections} connections in {stopwatch.Elapsed.TotalSeconds:F1} s: {errors} error frames, " +
            $"{closed} connections closed by the server, {waiting} waits on an incomplete frame, {other} other responses");
        Assert.True(errors + closed > Inputs / 2, "most mutated inputs are malformed: they must be answered with error frames or closed connections");

        // Still healthy: same answer as before, on the connection that was open all along and on a new one.
        var after = await healthy.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 8, Temperature = 0 }, TestContext.Current.CancellationToken);
        Assert.Equal(reference, after.Text);
        await using var fresh = await server.ConnectAsync();
        Assert.Equal(reference, (await fresh.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 8, Temperature = 0 }, TestContext.Current.CancellationToken)).Text);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var growth = GC.GetTotalMemory(forceFullCollection: true) - memoryBefore;
        Assert.True(growth < 64L << 20, $"managed memory grew by {growth:N0} bytes over the fuzz run");
    }

    /// <summary>
    /// Sends each input followed by a ping and waits for its pong: the input was then fully processed. A closed
    /// connection (fatal frame) or a silent wait (an incomplete frame the server legitimately waits on) ends the
    /// connection and the next input goes on a new one.
    /// </summary>
    private static async Task<FuzzCounts> FuzzAsync(TestServer server, int seed, int count)
    {
        var mutator = new FrameMutator(seed, SeedFrames());
        var counts = new FuzzCounts();
        var sent = 0;
        while (sent < count)
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server.Endpoint, TestContext.Current.CancellationToken);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var frames = new FrameStream(stream);
            await stream.WriteAsync(Hello(), TestContext.Current.CancellationToken);
            if (await frames.NextAsync(TimeSpan.FromSeconds(10)) is not { Type: FrameType.HelloOk })
            {
                throw new InvalidOperationException("no hello-ok from the server");
            }

            var open = true;
            while (open && sent < count)
            {
                var input = mutator.Next();
                sent++;
                try
                {
                    var start = 0;
                    foreach (var cut in mutator.Cuts(input.Length).Append(input.Length))
                    {
                        await stream.WriteAsync(input.AsMemory(start, cut - start), TestContext.Current.CancellationToken);
                        start = cut;
                    }

                    var marker = (ulong)sent;
                    await stream.WriteAsync(Frame(w => FrameWriter.WritePing(w, 0, marker)), TestContext.Current.CancellationToken);
                    open = await counts.AwaitPongAsync(frames, marker);
                }
                catch (IOException)
                {
                    counts.Closed++;
                    open = false;
                }
            }
        }

        return counts;
    }

    private sealed class FuzzCounts
    {
        public int ErrorFrames { get; set; }

        public int OtherResponses { get; set; }

        public int Closed { get; set; }

        public int Waiting { get; set; }

        /// <summary>Reads until the pong for <paramref name="marker"/>; false when the connection is done for.</summary>
        public async Task<bool> AwaitPongAsync(FrameStream frames, ulong marker)
        {
            while (true)
            {
                var frame = await frames.NextAsync(TimeSpan.FromMilliseconds(60)); // a pong takes well under a millisecond on loopback
                switch (frame)
                {
                    case null when frames.Closed:
                        Closed++;
                        return false;
                    case null:
                        Waiting++; // an incomplete frame swallowed the ping: the server waits for its body
                        return false;
                    case { Type: FrameType.Pong } pong when pong.Value == marker:
                        return true;
                    case { Type: FrameType.Error }:
                        ErrorFrames++;
                        break;
                    default:
                        OtherResponses++;
                        break;
                }
            }
        }
    }

    /// <summary>Frames from the server, parsed with the protocol's own reader.</summary>
    private sealed class FrameStream(NetworkStream stream)
    {
        private readonly byte[] buffer = new byte[64 * 1024];
        private byte[] pending = [];

        public bool Closed { get; private set; }

        public async Task<(FrameType Type, ulong Value)?> NextAsync(TimeSpan timeout)
        {
            while (true)
            {
                var sequence = new ReadOnlySequence<byte>(pending);
                if (FrameReader.TryReadFrame(ref sequence, new ProtocolLimits { MaxPayloadBytes = 4 << 20 }, out var frame))
                {
                    var value = frame.Type == FrameType.Pong ? MessageReader.ReadPing(frame.Payload.ToArray()) : 0UL;
                    var type = frame.Type;
                    pending = sequence.ToArray();
                    return (type, value);
                }

                using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
                cts.CancelAfter(timeout);
                int n;
                try
                {
                    n = await stream.ReadAsync(buffer, cts.Token);
                }
                catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
                {
                    return null;
                }
                catch (IOException)
                {
                    n = 0;
                }

                if (n == 0)
                {
                    Closed = true;
                    return null;
                }

                pending = [.. pending, .. buffer.AsSpan(0, n)];
            }
        }
    }

    private static byte[] Hello() => Frame(w => FrameWriter.WriteHello(w, new HelloMessage { ClientName = "fuzz", Token = TestServer.Token }));

    private static List<byte[]> SeedFrames() =>
    [
        Frame(w => FrameWriter.WriteGenerate(w, 1, new GenerateRequest { Model = "m0", Prompt = "Once upon", MaxTokens = 2, Temperature = 0 })),
        Frame(w => FrameWriter.WriteGenerate(w, 2, new GenerateRequest { Prompt = "route me", MaxTokens = 2, StopSequences = ["."] })),
        Frame(w => FrameWriter.WriteRoute(w, 3, new RouteRequest { Prompt = "Summarize this." })),
        Frame(w => FrameWriter.WriteEmbed(w, 4, new EmbedRequest { Model = "m0", Text = "hello" })),
        Frame(w => FrameWriter.WriteCancel(w, 1)),
        Frame(w => FrameWriter.WriteListModels(w, 5)),
        Frame(w => FrameWriter.WriteGetStats(w, 6)),
        Frame(w => FrameWriter.WritePing(w, 7, 42)),
        Frame(w => FrameWriter.WriteAdmin(w, 8, AdminOperation.Pin, "m0")),
    ];

    private static byte[] Frame(Action<IBufferWriter<byte>> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
