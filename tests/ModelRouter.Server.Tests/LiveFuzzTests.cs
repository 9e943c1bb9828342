using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using ModelRouter.Protocol;
using ModelRouter.Protocol.Tests;

namespace ModelRouter.Server.Tests;

/// <summary>
/// 100,000 mutated and random frames against a live server over several connections, each input judged on its own: an
/// oracle built on the protocol library's readers and the specification's rules says what the server owes it (an
/// error on its id, a fatal error and a close, an answer, or nothing yet because the input ends inside a frame) and the
/// test checks exactly that on the wire, plus one terminal frame for every request accepted. The server never crashes
/// or hangs, memory stays bounded, and a well-behaved connection alongside keeps getting correct answers.
/// </summary>
public sealed class LiveFuzzTests
{
    private const int Inputs = 100_000;
    private const int Connections = 8;

    [Fact(Timeout = 1_800_000)]
    public async Task A_hundred_thousand_mutated_frames_leave_the_server_and_other_clients_healthy()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1,
            $"--ModelRouter:Limits:MaxTokens={Limits.MaxTokens}", $"--ModelRouter:Limits:MaxRequestsInFlightPerConnection={Limits.MaxRequestsInFlight}");
        await using var healthy = await server.ConnectAsync();
        var reference = (await healthy.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 8, Temperature = 0 }, TestContext.Current.CancellationToken)).Text;

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        var stopwatch = Stopwatch.StartNew();
        var tallies = await Task.WhenAll(Enumerable.Range(0, Connections).Select(c => FuzzAsync(server, seed: 1000 + c, Inputs / Connections)));
        stopwatch.Stop();

        var total = new FuzzTally();
        foreach (var tally in tallies)
        {
            total.Add(tally);
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{Inputs} fuzz inputs over {Connections} connections in {stopwatch.Elapsed.TotalSeconds:F1} s: {total}");
        Assert.Equal(Inputs, total.Inputs);
        Assert.True(total.Failures.Count == 0, $"{total.Failures.Count} inputs were not answered as the specification says; the first:\n" +
            string.Join("\n", total.Failures.Take(10)));
        Assert.True(total.BadAnswered > Inputs / 4, "most mutated inputs are malformed: the fuzzer must reach the error paths");

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

    /// <summary>The limits the server runs with, which the oracle judges inputs by.</summary>
    private static readonly ProtocolLimits Limits = ProtocolLimits.Default with { MaxTokens = 8, MaxRequestsInFlight = 16 };

    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Sends each input, asks the oracle what the specification requires of it, and checks exactly that on the wire:
    /// every bad frame gets its error on its own id before the next ping is answered (the connection stays), or the
    /// error on id 0 and a close (fatal); every request that was accepted ends with exactly one terminal frame, also
    /// when the server closes the connection. An input that ends inside a frame leaves the server waiting for the rest,
    /// legitimately: after its complete frames are answered, the connection is dropped and the next input goes on a
    /// new one.
    /// </summary>
    private static async Task<FuzzTally> FuzzAsync(TestServer server, int seed, int count)
    {
        var mutator = new FrameMutator(seed, SeedFrames());
        var tally = new FuzzTally();
        var sent = 0;
        while (sent < count)
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server.Endpoint, TestContext.Current.CancellationToken);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var frames = new FrameStream(stream);
            await stream.WriteAsync(Hello(), TestContext.Current.CancellationToken);
            if (await frames.NextAsync(AnswerTimeout) is not { Type: FrameType.HelloOk })
            {
                throw new InvalidOperationException("no hello-ok from the server");
            }

            var session = new Session(frames, tally);
            var open = true;
            while (open && sent < count)
            {
                var input = mutator.Next();
                sent++;
                tally.Inputs++;
                var verdict = Oracle.Judge(input, session.Pending);
                try
                {
                    var start = 0;
                    foreach (var cut in mutator.Cuts(input.Length).Append(input.Length))
                    {
                        await stream.WriteAsync(input.AsMemory(start, cut - start), TestContext.Current.CancellationToken);
                        start = cut;
                    }

                    if (verdict.Fatal is null && !verdict.EndsInsideAFrame)
                    {
                        await stream.WriteAsync(Frame(w => FrameWriter.WritePing(w, 0, (ulong)sent)), TestContext.Current.CancellationToken);
                    }
                }
                catch (IOException)
                {
                    // The server closed while we wrote: judged below from what it sent.
                }

                open = await session.CheckAsync(sent, input, verdict);
            }

            if (open)
            {
                await session.FinishAsync(); // every accepted request still ends with one terminal frame
            }
        }

        return tally;
    }

    /// <summary>What the specification requires of one input, given the requests in flight on the connection.</summary>
    private sealed record Verdict(List<(uint Id, ErrorCode Code)> Errors, List<uint> Answered, List<uint> Started, ErrorCode? Fatal, bool AmbiguousClose,
        bool EndsInsideAFrame);

    /// <summary>
    /// Judges an input with the protocol library's own readers and the server's rules (docs/protocol.md 1.2, 2, 3, 4):
    /// which frames must be answered with which error, which are fatal, which start requests.
    /// </summary>
    private static class Oracle
    {
        public static Verdict Judge(byte[] input, IReadOnlyDictionary<uint, int> inFlight)
        {
            var verdict = new Verdict([], [], [], null, false, false);
            var pending = new Dictionary<uint, int>(inFlight);
            var buffer = new ReadOnlySequence<byte>(input);
            while (true)
            {
                Frame frame;
                try
                {
                    if (!FrameReader.TryReadFrame(ref buffer, Limits, out frame))
                    {
                        return verdict with { EndsInsideAFrame = !buffer.IsEmpty };
                    }
                }
                catch (ProtocolException ex) when (!ex.IsFatal)
                {
                    if (ex.RequestId == 0)
                    {
                        return verdict with { Fatal = ErrorCode.UnknownFrameType };
                    }

                    if (pending.ContainsKey(ex.RequestId))
                    {
                        return verdict with { Fatal = ErrorCode.DuplicateRequestId, AmbiguousClose = true };
                    }

                    verdict.Errors.Add((ex.RequestId, ex.Code));
                    continue;
                }
                catch (ProtocolException ex)
                {
                    return verdict with { Fatal = ex.Code };
                }

                var id = frame.RequestId;
                var type = frame.Type;
                if (type is not (FrameType.Ping or FrameType.Pong or FrameType.Cancel or FrameType.Hello) && id == 0)
                {
                    return verdict with { Fatal = FrameTypes.IsClientToServer(type) ? ErrorCode.BadFrame : ErrorCode.UnexpectedFrame };
                }

                if (type is not (FrameType.Pong or FrameType.Cancel) && id != 0 && pending.ContainsKey(id))
                {
                    // The request may have ended on the server before this frame arrived: a close (106) or an answer.
                    return verdict with { Fatal = ErrorCode.DuplicateRequestId, AmbiguousClose = true };
                }

                if (type == FrameType.Hello)
                {
                    return verdict with { Fatal = ErrorCode.UnexpectedFrame };
                }

                if (type is FrameType.Cancel or FrameType.Pong)
                {
                    continue; // never answered
                }

                if (!FrameTypes.IsClientToServer(type))
                {
                    verdict.Errors.Add((id, ErrorCode.UnexpectedFrame));
                    continue;
                }

                var code = PayloadError(frame);
                if (code != ErrorCode.None)
                {
                    verdict.Errors.Add((id, code));
                }
                else if (type is FrameType.Generate or FrameType.Chat or FrameType.Embed or FrameType.Admin)
                {
                    verdict.Started.Add(id); // answered later, or refused at once: one terminal frame either way
                    pending[id] = 1;
                }
                else
                {
                    verdict.Answered.Add(id); // route, list-models, get-stats, ping: answered before the next frame is read
                }
            }
        }

        private static ErrorCode PayloadError(in Frame frame)
        {
            var payload = frame.Payload.ToArray();
            try
            {
                switch (frame.Type)
                {
                    case FrameType.Generate: MessageReader.ReadGenerate(payload, Limits).ToRequest(); break;
                    case FrameType.Chat: MessageReader.ReadChat(payload, Limits).ToRequest(); break;
                    case FrameType.Route: MessageReader.ReadRoute(payload, Limits).ToRequest(); break;
                    case FrameType.Embed: MessageReader.ReadEmbed(payload, Limits).ToRequest(); break;
                    case FrameType.Admin: MessageReader.ReadAdmin(payload, Limits); break;
                    case FrameType.Ping: MessageReader.ReadPing(payload); break;
                    case FrameType.ListModels or FrameType.GetStats: MessageReader.ReadEmpty(payload); break;
                }

                return ErrorCode.None;
            }
            catch (ProtocolException ex)
            {
                return ex.Code;
            }
        }
    }

    /// <summary>One fuzzing connection: the requests it has in flight and the checks of each input's answers.</summary>
    private sealed class Session(FrameStream frames, FuzzTally tally)
    {
        /// <summary>Requests started and not ended yet (by id: how many terminal frames are still owed).</summary>
        public Dictionary<uint, int> Pending { get; } = [];

        /// <summary>Reads what the input requires; false when the connection is done (closed, or waiting inside a frame).</summary>
        public async Task<bool> CheckAsync(int index, byte[] input, Verdict verdict)
        {
            if (verdict.AmbiguousClose)
            {
                // An id reused while its request was in flight when we sent it: the server closes (106) if the request
                // was still running when the frame arrived, or serves the frame if it had just ended. Which one is a race
                // we cannot see from here, so this input is not judged; the connection is dropped.
                tally.Unjudged++;
                return false;
            }

            var errors = verdict.Errors.ToList();
            var answered = verdict.Answered.ToList();
            foreach (var id in verdict.Started)
            {
                Pending[id] = Pending.GetValueOrDefault(id) + 1;
            }

            ErrorCode? closedWith = null;
            var marker = (ulong)index;
            var needPong = verdict.Fatal is null && !verdict.EndsInsideAFrame;
            while (verdict.Fatal is not null || errors.Count > 0 || answered.Count > 0 || (needPong && marker != 0))
            {
                var next = await frames.NextAsync(AnswerTimeout, throwOnTimeout: false);
                if (next is not { } frame)
                {
                    if (frames.Closed)
                    {
                        break;
                    }

                    Fail(index, input, verdict, $"silence for {AnswerTimeout.TotalSeconds} s; still owed: errors {string.Join(",", errors)}, " +
                        $"answers {string.Join(",", answered)}{(needPong && marker != 0 ? ", the pong" : "")}{(verdict.Fatal is null ? "" : ", the close")}");
                    return false;
                }

                if (frame.Type == FrameType.Pong && frame.RequestId == 0 && frame.Value == marker)
                {
                    marker = 0;
                    if (errors.Count > 0 || answered.Count > 0)
                    {
                        Fail(index, input, verdict, $"the pong came before the answers owed: errors {string.Join(",", errors)}, answers {string.Join(",", answered)}");
                        return false;
                    }

                    continue;
                }

                if (frame.Type == FrameType.Error && frame.RequestId == 0)
                {
                    closedWith = frame.Code;
                    continue;
                }

                var owed = errors.FindIndex(e => e.Id == frame.RequestId);
                if (owed >= 0 && frame.Type == FrameType.Error)
                {
                    if (frame.Code != errors[owed].Code)
                    {
                        Fail(index, input, verdict, $"error {frame.Code} on {frame.RequestId}, the specification says {errors[owed].Code}");
                    }

                    errors.RemoveAt(owed);
                    tally.BadAnswered++;
                    continue;
                }

                var answer = answered.IndexOf(frame.RequestId);
                if (answer >= 0 && FrameTypes.IsTerminal(frame.Type))
                {
                    answered.RemoveAt(answer);
                    continue;
                }

                Settle(index, input, verdict, frame);
            }

            if (frames.Closed || closedWith is not null)
            {
                if (!frames.Closed && !await DrainToCloseAsync(index, input, verdict))
                {
                    Fail(index, input, verdict, $"error {closedWith} on id 0 but the connection stayed open");
                }

                if (closedWith is null)
                {
                    Fail(index, input, verdict, "closed without an error on id 0");
                }
                else if (verdict.Fatal is null)
                {
                    Fail(index, input, verdict, $"closed with {closedWith}; the specification does not make this input fatal");
                }
                else if (closedWith != verdict.Fatal)
                {
                    Fail(index, input, verdict, $"closed with {closedWith}, the specification says {verdict.Fatal}");
                }

                if (errors.Count > 0)
                {
                    Fail(index, input, verdict, $"closed before the errors owed on {string.Join(",", errors)}");
                }

                tally.BadAnswered++;
                tally.Closed++;
                if (Pending.Count > 0)
                {
                    Fail(index, input, verdict, $"closed while requests {string.Join(",", Pending.Keys)} had no terminal frame");
                }

                return false;
            }

            if (verdict.EndsInsideAFrame)
            {
                tally.Waiting++;
                return false; // the server waits for the rest of the frame, as it should
            }

            return true;
        }

        /// <summary>Before the connection is dropped: every request still in flight ends with one terminal frame.</summary>
        public async Task FinishAsync()
        {
            while (Pending.Count > 0)
            {
                var frame = await frames.NextAsync(AnswerTimeout, throwOnTimeout: false);
                if (frame is null)
                {
                    tally.Failures.Add($"{Pending.Count} requests never ended (ids {string.Join(",", Pending.Keys)})");
                    return;
                }

                Settle(0, [], null, frame.Value);
            }
        }

        private async Task<bool> DrainToCloseAsync(int index, byte[] input, Verdict verdict)
        {
            while (await frames.NextAsync(AnswerTimeout, throwOnTimeout: false) is { } frame)
            {
                Settle(index, input, verdict, frame);
            }

            return frames.Closed;
        }

        /// <summary>A frame for a request in flight: its chunks, or its one terminal frame.</summary>
        private void Settle(int index, byte[] input, Verdict? verdict, (FrameType Type, uint RequestId, ulong Value, ErrorCode Code) frame)
        {
            if (frame.Type == FrameType.TokenChunk && Pending.ContainsKey(frame.RequestId))
            {
                return;
            }

            if (FrameTypes.IsTerminal(frame.Type) && Pending.TryGetValue(frame.RequestId, out var owed))
            {
                if (owed <= 1)
                {
                    Pending.Remove(frame.RequestId);
                }
                else
                {
                    Pending[frame.RequestId] = owed - 1;
                }

                tally.Ended++;
                return;
            }

            if (frame.Type == FrameType.Error && frame.RequestId == 0)
            {
                return; // the close's reason, judged by the caller
            }

            tally.Failures.Add($"input {index}: a frame nobody asked for: {frame.Type} on {frame.RequestId}" +
                (verdict is null ? "" : $" ({Describe(input, verdict)})"));
        }

        private void Fail(int index, byte[] input, Verdict verdict, string problem) =>
            tally.Failures.Add($"input {index}: {problem} ({Describe(input, verdict)})");

        private static string Describe(byte[] input, Verdict verdict) =>
            $"{Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 48)))}{(input.Length > 48 ? "..." : "")}; expected errors " +
            $"{string.Join(",", verdict.Errors)}, fatal {verdict.Fatal?.ToString() ?? "none"}, started {string.Join(",", verdict.Started)}";
    }

    private sealed class FuzzTally
    {
        public int Inputs { get; set; }

        public int BadAnswered { get; set; }

        public int Closed { get; set; }

        public int Waiting { get; set; }

        public int Ended { get; set; }

        public int Unjudged { get; set; }

        public List<string> Failures { get; } = [];

        public void Add(FuzzTally other)
        {
            Inputs += other.Inputs;
            BadAnswered += other.BadAnswered;
            Closed += other.Closed;
            Waiting += other.Waiting;
            Ended += other.Ended;
            Unjudged += other.Unjudged;
            Failures.AddRange(other.Failures);
        }

        public override string ToString() =>
            $"{BadAnswered} bad inputs answered as specified ({Closed} by a close), {Ended} accepted requests ended with one terminal frame, " +
            $"{Waiting} inputs ending inside a frame, {Unjudged} not judged (an id reused while its request may just have ended), {Failures.Count} failures";
    }

    /// <summary>Frames from the server, parsed with the protocol's own reader.</summary>
    private sealed class FrameStream(NetworkStream stream)
    {
        private readonly byte[] buffer = new byte[64 * 1024];
        private byte[] pending = [];

        public bool Closed { get; private set; }

        /// <summary>The next frame; null when the server closed, or (without throwing) when nothing came within the timeout.</summary>
        public async Task<(FrameType Type, uint RequestId, ulong Value, ErrorCode Code)?> NextAsync(TimeSpan timeout, bool throwOnTimeout = true)
        {
            while (true)
            {
                var sequence = new ReadOnlySequence<byte>(pending);
                if (FrameReader.TryReadFrame(ref sequence, new ProtocolLimits { MaxPayloadBytes = 4 << 20 }, out var frame))
                {
                    var payload = frame.Payload.ToArray();
                    var value = frame.Type == FrameType.Pong ? MessageReader.ReadPing(payload) : 0UL;
                    var code = frame.Type == FrameType.Error ? MessageReader.ReadError(payload).Code : ErrorCode.None;
                    var result = (frame.Type, frame.RequestId, value, code);
                    pending = sequence.ToArray();
                    return result;
                }

                if (Closed)
                {
                    return null;
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
                    return throwOnTimeout ? throw new TimeoutException("no frame from the server") : null;
                }
                catch (IOException)
                {
                    n = 0;
                }

                if (n == 0)
                {
                    Closed = true;
                    continue;
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
