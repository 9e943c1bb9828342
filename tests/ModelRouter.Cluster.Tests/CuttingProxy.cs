using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ModelRouter.Cluster.Tests;

/// <summary>
/// A TCP relay in front of a node's socket door that can cut a connection the way a node's death does. Armed, it relays
/// the node's next token-chunk frame, holds everything after it, and when told resets both sides (RST, no goodbye). It
/// reads the node's side frame by frame (16-byte header, payload length at offset 12), so the cut falls after a piece
/// and before the done frame, whatever the timing: a forward that is mid-answer for certain. (It waits to be told
/// because on Linux a reset discards data the peer has not read yet: a cut right after the send could swallow the piece.)
/// </summary>
internal sealed class CuttingProxy : IAsyncDisposable
{
    private const byte TokenChunk = 0x20;
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint target;
    private readonly CancellationTokenSource stopping = new();
    private readonly List<Task> relays = [];
    private readonly Task accepting;
    private readonly TaskCompletionSource cut = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool armed;

    public CuttingProxy(IPEndPoint target)
    {
        this.target = target;
        listener.Start();
        accepting = AcceptAsync();
    }

    public IPEndPoint Endpoint => (IPEndPoint)listener.LocalEndpoint;

    /// <summary>Connections cut so far.</summary>
    public int Cuts { get; private set; }

    /// <summary>The next token-chunk the node sends is relayed, and nothing after it until <see cref="Cut"/>.</summary>
    public void HoldAfterNextPiece() => armed = true;

    /// <summary>Resets the held connection on both sides.</summary>
    public void Cut() => cut.TrySetResult();

    private async Task AcceptAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await server.ConnectAsync(target, stopping.Token);
            lock (relays)
            {
                relays.Add(RelayAsync(client, server));
            }
        }
    }

    private async Task RelayAsync(Socket client, Socket server)
    {
        using (client)
        using (server)
        {
            var upstream = PumpAsync(client, server);
            try
            {
                var header = new byte[16];
                await using var fromNode = new NetworkStream(server, ownsSocket: false);
                while (true)
                {
                    await fromNode.ReadExactlyAsync(header, stopping.Token); // throws at the node's end of stream
                    var payload = new byte[BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12))];
                    await fromNode.ReadExactlyAsync(payload, stopping.Token);
                    await client.SendAsync(header, stopping.Token);
                    await client.SendAsync(payload, stopping.Token);
                    if (header[3] == TokenChunk && armed)
                    {
                        armed = false;
                        await cut.Task.WaitAsync(stopping.Token);
                        Cuts++;
                        client.LingerState = new LingerOption(true, 0); // close with RST, as a dead machine's kernel does
                        server.LingerState = new LingerOption(true, 0);
                        return;
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or EndOfStreamException or ObjectDisposedException)
            {
                // one side went away: the other goes too
            }
            finally
            {
                client.Close();
                server.Close();
                await upstream.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (await from.ReceiveAsync(buffer, stopping.Token) is var read and > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), stopping.Token);
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // the relay closes both sockets
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        listener.Stop();
        await accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] open;
        lock (relays)
        {
            open = [.. relays];
        }

        await Task.WhenAll(open).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        stopping.Dispose();
    }
}
