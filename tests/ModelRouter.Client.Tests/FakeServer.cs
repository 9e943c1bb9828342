using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ModelRouter.Protocol;

namespace ModelRouter.Client.Tests;

/// <summary>
/// A tiny server speaking the protocol on loopback, scripted by the prompt:
/// <c>count:N[:tag]</c> streams N chunks "tag-i " then done; <c>slow:N</c> streams one chunk every 10 ms until done
/// or cancelled (then done/cancelled); <c>hang</c> answers nothing until cancelled (then error 305);
/// <c>error:CODE</c> answers an error frame; <c>vanish</c> sends two chunks and closes the connection (<c>reset</c>:
/// aborts it with a TCP reset);
/// <c>garbage</c> sends bytes that are no frame; <c>ping-me</c> pings the client (id 0, value 77); <c>goaway</c> sends go-away, then streams like count:3.
/// A chat is scripted the same way by the content of its last message, and recorded in <see cref="Chats"/>.
/// </summary>
internal sealed class FakeServer : IAsyncDisposable
{
    public const string Token = "client-token";
    public const string AdminToken = "admin-token";

    private readonly Socket listener;
    private readonly CancellationTokenSource stop = new();
    private readonly Task acceptLoop;
    private readonly ConcurrentBag<Socket> connections = [];
    private readonly string? unixPath;
    private int inFlight;
    private int maxInFlightSeen;

    public FakeServer(int maxRequestsInFlight = 8, bool unixSocket = false)
    {
        MaxRequestsInFlight = maxRequestsInFlight;
        if (unixSocket)
        {
            unixPath = Path.Combine(Path.GetTempPath(), $"mr-fake-{Guid.NewGuid():N}.sock");
            listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(unixPath));
        }
        else
        {
            listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }

        listener.Listen(64);
        EndPoint = unixPath is null ? listener.LocalEndPoint! : new UnixDomainSocketEndPoint(unixPath);
        acceptLoop = AcceptLoopAsync();
    }

    public EndPoint EndPoint { get; }

    public int MaxRequestsInFlight { get; }

    public ConcurrentQueue<uint> Cancels { get; } = new();

    public ConcurrentQueue<ulong> Pongs { get; } = new();

    /// <summary>Every chat request received, as parsed from its frame.</summary>
    public ConcurrentQueue<ChatGenerateRequest> Chats { get; } = new();

    /// <summary>Every embed request received, as parsed from its frame.</summary>
    public ConcurrentQueue<EmbedRequest> Embeds { get; } = new();

    public int MaxInFlightSeen => Volatile.Read(ref maxInFlightSeen);

    public int TooManyInFlightErrors;

    public int RequestsSeen;

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Dispose();
        foreach (var connection in connections)
        {
            connection.Dispose();
        }

        try
        {
            await acceptLoop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        if (unixPath is not null)
        {
            File.Delete(unixPath);
        }

        stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            var socket = await listener.AcceptAsync(stop.Token);
            connections.Add(socket);
            _ = Task.Run(() => new Connection(this, socket).RunAsync());
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Lives as long as its socket; the lock holds no OS handle.")]
    private sealed class Connection
    {
        private readonly FakeServer server;
        private readonly Socket socket;
        private readonly PipeReader reader;
        private readonly PipeWriter writer;
        private readonly SemaphoreSlim writeLock = new(1, 1);
        private readonly ConcurrentDictionary<uint, CancellationTokenSource> requests = new();
        private bool isAdmin;

        public Connection(FakeServer server, Socket socket)
        {
            this.server = server;
            this.socket = socket;
            var stream = new NetworkStream(socket, ownsSocket: true);
            reader = PipeReader.Create(stream);
            writer = PipeWriter.Create(stream);
        }

        public async Task RunAsync()
        {
            try
            {
                if (await HandshakeAsync())
                {
                    await ReadLoopAsync();
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
            }
            finally
            {
                foreach (var cts in requests.Values)
                {
                    await cts.CancelAsync();
                }

                socket.Dispose();
            }
        }

        private async Task<bool> HandshakeAsync()
        {
            var limits = ProtocolLimits.Default.ForHandshake();
            while (true)
            {
                var result = await reader.ReadAsync();
                var buffer = result.Buffer;
                HelloMessage? hello = null;
                try
                {
                    if (FrameReader.TryReadFrame(ref buffer, limits, out var frame))
                    {
                        using var payload = frame.LeasePayload();
                        hello = MessageReader.ReadHello(payload.Span, limits);
                    }
                    else if (result.IsCompleted)
                    {
                        return false;
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }

                if (hello is null)
                {
                    continue;
                }

                if (hello.Token is not (Token or AdminToken))
                {
                    await SendAsync(w => FrameWriter.WriteError(w, 0, ErrorCode.AuthenticationFailed, "bad token"));
                    return false;
                }

                isAdmin = hello.Token == AdminToken;
                var limitsOut = ProtocolLimits.Default with { MaxRequestsInFlight = server.MaxRequestsInFlight, MaxPromptBytes = 1024 };
                await SendAsync(w => FrameWriter.WriteHelloOk(w, ServerHello.FromLimits(limitsOut, isAdmin, 1, "fake")));
                return true;
            }
        }

        private async Task ReadLoopAsync()
        {
            var limits = ProtocolLimits.Default;
            while (true)
            {
                var result = await reader.ReadAsync();
                var buffer = result.Buffer;
                var work = new List<Func<Task>>();
                try
                {
                    while (true)
                    {
                        try
                        {
                            if (!FrameReader.TryReadFrame(ref buffer, limits, out var frame))
                            {
                                break;
                            }

                            work.Add(Accept(frame, limits));
                        }
                        catch (ProtocolException ex) when (!ex.IsFatal)
                        {
                            var id = ex.RequestId;
                            work.Add(() => SendAsync(w => FrameWriter.WriteError(w, id, ex.Code, ex.Message)));
                        }
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }

                foreach (var item in work)
                {
                    await item();
                }

                if (result.IsCompleted)
                {
                    return;
                }
            }
        }

        /// <summary>Parses synchronously (the payload dies with the buffer) and returns the work to do.</summary>
        private Func<Task> Accept(Frame frame, ProtocolLimits limits)
        {
            var id = frame.RequestId;
            using var payload = frame.LeasePayload();
            switch (frame.Type)
            {
                case FrameType.Cancel:
                    // Deferred like the rest, so a cancel right behind its request finds the request registered.
                    return () =>
                    {
                        server.Cancels.Enqueue(id);
                        if (requests.TryGetValue(id, out var cts))
                        {
                            cts.Cancel();
                        }

                        return Task.CompletedTask;
                    };
                case FrameType.Pong:
                    server.Pongs.Enqueue(MessageReader.ReadPing(payload.Span));
                    return () => Task.CompletedTask;
                case FrameType.Ping:
                    var value = MessageReader.ReadPing(payload.Span);
                    return () => SendAsync(w => FrameWriter.WritePong(w, id, value));
                case FrameType.Generate:
                    var generate = MessageReader.ReadGenerate(payload.Span, limits).ToRequest();
                    return Start(id, ct => GenerateAsync(id, generate, ct));
                case FrameType.Chat:
                    var chat = MessageReader.ReadChat(payload.Span, limits).ToRequest();
                    server.Chats.Enqueue(chat);
                    var script = new GenerateRequest
                    {
                        Prompt = chat.Messages[^1].Content,
                        Model = chat.Model,
                        RequiredCapability = chat.RequiredCapability,
                    };
                    return Start(id, ct => GenerateAsync(id, script, ct));
                case FrameType.Route:
                    var route = MessageReader.ReadRoute(payload.Span, limits).ToRequest();
                    return Start(id, ct => RouteAsync(id, route, ct));
                case FrameType.Embed:
                    var embed = MessageReader.ReadEmbed(payload.Span, limits).ToRequest();
                    server.Embeds.Enqueue(embed);
                    return Start(id, _ => Finish(() => SendAsync(w => FrameWriter.WriteEmbedResult(
                        w, id, embed.Model ?? "embed-default", Enumerable.Range(0, embed.Text.Length).Select(i => (float)i).ToArray(), embed.Text.Length))));
                case FrameType.ListModels:
                    return Start(id, _ => Finish(() => SendAsync(w => FrameWriter.WriteModelList(w, id,
                    [
                        new ModelInfo { Name = "small", Tier = ModelTier.Gpu, State = ModelState.Ready, Capabilities = ["chat"] },
                        new ModelInfo { Name = "coder", Tier = ModelTier.Host, State = ModelState.Unloaded, WeightBytes = 123, Capabilities = ["code"] },
                    ]))));
                case FrameType.GetStats:
                    return Start(id, _ => Finish(() => SendAsync(w => FrameWriter.WriteStats(w, id, new ServerStats { Connections = 1, RequestsTotal = server.RequestsSeen }))));
                case FrameType.Admin:
                    var admin = MessageReader.ReadAdmin(payload.Span, limits);
                    var operation = admin.Operation;
                    var model = admin.GetModel();
                    return Start(id, _ => Finish(() => isAdmin
                        ? SendAsync(w => FrameWriter.WriteAdminResult(w, id, new AdminResult { Operation = operation, Model = model, Tier = ModelTier.Gpu, State = ModelState.Ready }))
                        : SendAsync(w => FrameWriter.WriteError(w, id, ErrorCode.AdminRequired, "admin token required"))));
                default:
                    var type = frame.Type.ToString();
                    return () => SendAsync(w => FrameWriter.WriteError(w, id, ErrorCode.UnexpectedFrame, type));
            }
        }

        private Func<Task> Start(uint id, Func<CancellationToken, Task> run) => () =>
        {
            Interlocked.Increment(ref server.RequestsSeen);
            var now = Interlocked.Increment(ref server.inFlight);
            if (now > server.MaxRequestsInFlight)
            {
                Interlocked.Decrement(ref server.inFlight);
                Interlocked.Increment(ref server.TooManyInFlightErrors);
                return SendAsync(w => FrameWriter.WriteError(w, id, ErrorCode.TooManyRequestsInFlight, "too many"));
            }

            InterlockedMax(ref server.maxInFlightSeen, now);
            var cts = new CancellationTokenSource();
            requests[id] = cts;
            _ = Task.Run(async () =>
            {
                try
                {
                    await run(cts.Token);
                }
                catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
                {
                }
                finally
                {
                    requests.TryRemove(id, out _);
                    cts.Dispose();
                }
            });
            return Task.CompletedTask;
        };

        private async Task GenerateAsync(uint id, GenerateRequest request, CancellationToken ct)
        {
            var parts = request.Prompt.Split(':');
            var model = request.Model ?? "routed-" + (request.RequiredCapability ?? "chat");
            var task = request.Model is null ? "chat" : "";
            switch (parts[0])
            {
                case "count":
                case "goaway":
                    if (parts[0] == "goaway")
                    {
                        await SendAsync(w => FrameWriter.WriteGoAway(w, "draining"));
                    }

                    var n = parts[0] == "goaway" ? 3 : int.Parse(parts[1], CultureInfo.InvariantCulture);
                    var tag = parts.Length > 2 ? parts[2] : "t";
                    for (var i = 0; i < n; i++)
                    {
                        var text = $"{tag}-{i} ";
                        await SendAsync(w => FrameWriter.WriteTokenChunk(w, id, text.AsSpan(), 1));
                    }

                    await Finish(() => SendAsync(w => FrameWriter.WriteDone(w, id, Stats(FinishReason.EndOfText, n), model, task)));
                    return;
                case "slow":
                    var count = int.Parse(parts[1], CultureInfo.InvariantCulture);
                    for (var i = 0; i < count; i++)
                    {
                        if (ct.IsCancellationRequested)
                        {
                            var sent = i;
                            await Finish(() => SendAsync(w => FrameWriter.WriteDone(w, id, Stats(FinishReason.Cancelled, sent), model, task)));
                            return;
                        }

                        await SendAsync(w => FrameWriter.WriteTokenChunk(w, id, "x"u8, 1));
                        await Task.Delay(10, CancellationToken.None);
                    }

                    await Finish(() => SendAsync(w => FrameWriter.WriteDone(w, id, Stats(FinishReason.MaxTokens, count), model, task)));
                    return;
                case "hang":
                    await Task.Delay(Timeout.Infinite, ct).ContinueWith(_ => { }, TaskScheduler.Default);
                    await Finish(() => SendAsync(w => FrameWriter.WriteError(w, id, ErrorCode.Cancelled, "cancelled")));
                    return;
                case "error":
                    var code = (ErrorCode)ushort.Parse(parts[1], CultureInfo.InvariantCulture);
                    await Finish(() => SendAsync(w => FrameWriter.WriteError(w, id, code, $"scripted error {(ushort)code}")));
                    return;
                case "vanish":
                case "reset":
                    await SendAsync(w => FrameWriter.WriteTokenChunk(w, id, "a"u8, 1));
                    await SendAsync(w => FrameWriter.WriteTokenChunk(w, id, "b"u8, 1));
                    if (parts[0] == "reset")
                    {
                        socket.LingerState = new LingerOption(true, 0); // RST: unread bytes may be lost
                    }
                    else
                    {
                        socket.Shutdown(SocketShutdown.Both);
                    }

                    socket.Close();
                    return;
                case "ping-me":
                    await SendAsync(w => FrameWriter.WritePing(w, 0, 77));
                    await Finish(() => SendAsync(w => FrameWriter.WriteDone(w, id, Stats(FinishReason.EndOfText, 0), model, task)));
                    return;
                case "garbage":
                    await SendAsync(w => w.Write("HTTP/1.1 400 Bad Request\r\n\r\n"u8));
                    return;
                default:
                    await SendAsync(w => FrameWriter.WriteTokenChunk(w, id, request.Prompt.AsSpan(), 1));
                    await Finish(() => SendAsync(w => FrameWriter.WriteDone(w, id, Stats(FinishReason.EndOfText, 1), model, task)));
                    return;
            }
        }

        private async Task RouteAsync(uint id, RouteRequest request, CancellationToken ct)
        {
            if (request.Prompt == "hang")
            {
                await Task.Delay(Timeout.Infinite, ct).ContinueWith(_ => { }, TaskScheduler.Default);
                await Finish(() => SendAsync(w => FrameWriter.WriteError(w, id, ErrorCode.Cancelled, "cancelled")));
                return;
            }

            await Finish(() => SendAsync(w => FrameWriter.WriteRouteResult(w, id, new RouteDecision
            {
                Model = "routed-" + (request.RequiredCapability ?? "chat"),
                TaskType = "chat",
                Reason = $"latency {request.LatencyClass}",
                Confidence = 0.5f,
                RouteNanos = 1000,
                Fallbacks = ["tiny"],
            })));
        }

        /// <summary>Frees the server-side slot, then sends the terminal frame (the client refills on that frame).</summary>
        private Task Finish(Func<Task> sendTerminal)
        {
            Interlocked.Decrement(ref server.inFlight);
            return sendTerminal();
        }

        private static GenerationStats Stats(FinishReason reason, int tokens) => new()
        {
            FinishReason = reason,
            PromptTokens = 3,
            GeneratedTokens = tokens,
            TokensPerSecond = 100,
            RouteNanos = 1_000,
            QueueWaitNanos = 2_000,
            SwapNanos = 3_000,
            TimeToFirstTokenNanos = 4_000,
            TotalNanos = 5_000,
        };

        private async Task SendAsync(Action<PipeWriter> write)
        {
            await writeLock.WaitAsync();
            try
            {
                write(writer);
                await writer.FlushAsync();
            }
            finally
            {
                writeLock.Release();
            }
        }

        private static void InterlockedMax(ref int target, int value)
        {
            var current = Volatile.Read(ref target);
            while (value > current)
            {
                var seen = Interlocked.CompareExchange(ref target, value, current);
                if (seen == current)
                {
                    return;
                }

                current = seen;
            }
        }
    }
}
