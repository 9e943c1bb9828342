using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using ModelRouter.Protocol;

namespace ModelRouter.Benchmarks.Protocol;

/// <summary>
/// The thinnest possible peer of the client: answers hello, ping, and a generate with max-tokens chunks of " tok" then
/// done, without models or scheduling. Isolates what the wire and the client cost.
/// </summary>
internal static class Responder
{
    public static async Task RunAsync(PipeReader reader, PipeWriter writer)
    {
        var limits = ProtocolLimits.Default;
        var stats = new GenerationStats { FinishReason = FinishReason.MaxTokens };
        while (true)
        {
            var result = await reader.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            try
            {
                while (FrameReader.TryReadFrame(ref buffer, limits, out var frame))
                {
                    Answer(frame, writer, limits, stats);
                }
            }
            finally
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
            }

            var flush = await writer.FlushAsync().ConfigureAwait(false);
            if (result.IsCompleted || flush.IsCompleted)
            {
                await writer.CompleteAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    private static void Answer(in Frame frame, PipeWriter writer, in ProtocolLimits limits, in GenerationStats stats)
    {
        using var payload = frame.LeasePayload();
        switch (frame.Type)
        {
            case FrameType.Hello:
                FrameWriter.WriteHelloOk(writer, ServerHello.FromLimits(limits, isAdmin: false, connectionId: 1, serverName: "responder"));
                break;
            case FrameType.Ping:
                FrameWriter.WritePong(writer, frame.RequestId, MessageReader.ReadPing(payload.Span));
                break;
            case FrameType.Generate:
                var tokens = MessageReader.ReadGenerate(payload.Span, limits).MaxTokens;
                for (var i = 0; i < tokens; i++)
                {
                    FrameWriter.WriteTokenChunk(writer, frame.RequestId, " tok"u8, 1);
                }

                FrameWriter.WriteDone(writer, frame.RequestId, stats with { GeneratedTokens = tokens }, "responder", "");
                break;
        }
    }

    /// <summary>A loopback TCP listener serving one connection with <see cref="RunAsync"/>.</summary>
    public static (IPEndPoint EndPoint, Task Served) ListenOnce()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        var served = Task.Run(async () =>
        {
            using var socket = await listener.AcceptAsync().ConfigureAwait(false);
            listener.Dispose();
            socket.NoDelay = true;
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await RunAsync(PipeReader.Create(stream), PipeWriter.Create(stream)).ConfigureAwait(false);
        });
        return (endpoint, served);
    }
}
