using System.Net;
using ModelRouter.Client;
using ModelRouter.Protocol;

namespace ModelRouter.Cli.Soak;

/// <summary>
/// The socket door driven through our own client: streamed and whole generations and chats on named models and
/// "auto", embeddings, cancels mid-stream, connections closed mid-stream, connection churn and forced swaps through
/// the admin token. Long-lived connections are shared by the lanes (requests multiplex on them, as servers calling us
/// do); at the end each must hold no request: a cancelled request whose terminal frame never came stays in flight.
/// </summary>
internal sealed class SocketLanes(SoakLoad load) : IAsyncDisposable
{
    private readonly List<SharedConnection> shared = [];

    public IReadOnlyList<Task> Start()
    {
        var tcp = Share(load.Server.Tcp, "soak-tcp");
        var unix = load.Server.Unix is { } path ? Share(path, "soak-unix") : tcp;
        var admin = Share(load.Server.Tcp, "soak-admin", admin: true);
        var lanes = new List<Task>();
        for (var i = 0; i < load.Settings.Concurrency; i++)
        {
            var pick = i % 2 == 0 ? tcp : unix;
            lanes.Add(Task.Run(() => load.LoopAsync("socket.stream", 100 + i, r => StreamAsync(pick, r))));
            lanes.Add(Task.Run(() => load.LoopAsync("socket.complete", 200 + i, r => CompleteAsync(pick, r))));
            lanes.Add(Task.Run(() => load.LoopAsync("socket.embed", 300 + i, r => EmbedAsync(pick, r))));
            lanes.Add(Task.Run(() => load.LoopAsync("socket.cancel", 400 + i, r => CancelAsync(pick, r))));
            lanes.Add(Task.Run(() => load.LoopAsync("socket.disconnect", 500 + i, DisconnectAsync)));
        }

        lanes.Add(Task.Run(() => load.LoopAsync("socket.churn", 600, ChurnAsync)));
        lanes.Add(Task.Run(() => load.LoopAsync("socket.admin", 700, r => AdminAsync(admin, r))));
        return lanes;
    }

    /// <summary>Requests the shared connections still hold (should be 0 once every lane has ended).</summary>
    public int InFlightOnSharedConnections() => shared.Sum(s => s.InFlight);

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in shared)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private SharedConnection Share(EndPoint endpoint, string name, bool admin = false)
    {
        var connection = new SharedConnection(load, endpoint, name, admin);
        shared.Add(connection);
        return connection;
    }

    private async Task StreamAsync(SharedConnection connection, Random random)
    {
        var client = await connection.GetAsync().ConfigureAwait(false);
        var chat = random.Next(3) == 0;
        var ticket = load.Ledger.Open(chat ? "socket.chat-stream" : "socket.stream");
        try
        {
            var chunks = chat ? client.ChatAsync(Chat(random), load.Aborting) : client.GenerateAsync(Generate(random), load.Aborting);
            await foreach (var chunk in chunks.ConfigureAwait(false))
            {
                if (chunk.IsFinal)
                {
                    ticket.Close(SoakOutcome.Done);
                }
            }

            ticket.Close(SoakOutcome.Lost, "the stream ended without a final chunk");
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 200).ConfigureAwait(false);
    }

    private async Task CompleteAsync(SharedConnection connection, Random random)
    {
        var client = await connection.GetAsync().ConfigureAwait(false);
        var ticket = load.Ledger.Open("socket.complete");
        try
        {
            _ = random.Next(2) == 0
                ? await client.CompleteAsync(Generate(random), load.Aborting).ConfigureAwait(false)
                : await client.CompleteChatAsync(Chat(random), load.Aborting).ConfigureAwait(false);
            ticket.Close(SoakOutcome.Done);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 200).ConfigureAwait(false);
    }

    private async Task EmbedAsync(SharedConnection connection, Random random)
    {
        var client = await connection.GetAsync().ConfigureAwait(false);
        var ticket = load.Ledger.Open("socket.embed");
        try
        {
            var model = random.Next(3) == 0 ? null : load.Server.Models[random.Next(load.Server.Models.Length)];
            var result = await client.EmbedAsync(SoakLoad.Prompt(random), model, load.Aborting).ConfigureAwait(false);
            ticket.Close(result.Vector.Length > 0 ? SoakOutcome.Done : SoakOutcome.Lost, "an empty vector");
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 200).ConfigureAwait(false);
    }

    /// <summary>Cancels after 0..3 chunks: the client sends a cancel frame; the server must still end the request once.</summary>
    private async Task CancelAsync(SharedConnection connection, Random random)
    {
        var client = await connection.GetAsync().ConfigureAwait(false);
        var ticket = load.Ledger.Open("socket.cancel");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(load.Aborting);
        var after = random.Next(4);
        try
        {
            var seen = 0;
            await foreach (var chunk in client.GenerateAsync(Generate(random, atLeast: 16), cancel.Token).ConfigureAwait(false))
            {
                if (chunk.IsFinal)
                {
                    ticket.Close(SoakOutcome.Done);
                }
                else if (seen++ == after)
                {
                    await cancel.CancelAsync().ConfigureAwait(false);
                }
            }

            ticket.Close(SoakOutcome.Lost, "the stream ended without a final chunk");
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested && !load.Aborting.IsCancellationRequested)
        {
            ticket.Close(SoakOutcome.Cancelled);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 200).ConfigureAwait(false);
    }

    /// <summary>A connection of its own, closed after the first chunk of a stream (or with two requests in flight).</summary>
    private async Task DisconnectAsync(Random random)
    {
        var ticket = load.Ledger.Open("socket.disconnect");
        var client = await ConnectOrCloseAsync(ticket, random, "soak-disconnect").ConfigureAwait(false);
        if (client is null)
        {
            return;
        }

        var disconnected = false;
        try
        {
            var other = client.CompleteAsync(Generate(random, atLeast: 8), load.Aborting); // left in flight on purpose
            await foreach (var chunk in client.GenerateAsync(Generate(random, atLeast: 16), load.Aborting).ConfigureAwait(false))
            {
                if (chunk.IsFinal)
                {
                    ticket.Close(SoakOutcome.Done);
                    break;
                }

                disconnected = true;
                await client.DisposeAsync().ConfigureAwait(false);
                ticket.Close(SoakOutcome.Disconnected);
                break;
            }

            _ = await other.ContinueWith(static _ => 0, TaskScheduler.Default).ConfigureAwait(false);
        }
        catch (Exception ex) when (disconnected ? Expected(ticket) : Classify(ticket, ex))
        {
        }
        finally
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        ticket.Close(SoakOutcome.Disconnected);
        await load.PauseAsync(random, 300).ConfigureAwait(false);
    }

    /// <summary>Connection churn: connect, one small request, close.</summary>
    private async Task ChurnAsync(Random random)
    {
        var ticket = load.Ledger.Open("socket.churn");
        var client = await ConnectOrCloseAsync(ticket, random, "soak-churn").ConfigureAwait(false);
        if (client is null)
        {
            return;
        }

        try
        {
            switch (random.Next(3))
            {
                case 0: await client.PingAsync(load.Aborting).ConfigureAwait(false); break;
                case 1: await client.ListModelsAsync(load.Aborting).ConfigureAwait(false); break;
                default: await client.RouteAsync(SoakLoad.Prompt(random), load.Aborting).ConfigureAwait(false); break;
            }

            ticket.Close(SoakOutcome.Done);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }
        finally
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        await load.PauseAsync(random, 100).ConfigureAwait(false);
    }

    /// <summary>Forced swaps: evict a model or preload one every few seconds, whatever the load is doing.</summary>
    private async Task AdminAsync(SharedConnection connection, Random random)
    {
        var client = await connection.GetAsync().ConfigureAwait(false);
        var model = load.Server.Models[random.Next(load.Server.Models.Length)];
        var ticket = load.Ledger.Open("socket.admin");
        try
        {
            _ = random.Next(2) == 0
                ? await client.EvictAsync(model, load.Aborting).ConfigureAwait(false)
                : await client.PreloadAsync(model, load.Aborting).ConfigureAwait(false);
            ticket.Close(SoakOutcome.Done);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 3000).ConfigureAwait(false);
    }

    private async Task<ModelRouterClient?> ConnectOrCloseAsync(SoakTicket ticket, Random random, string name)
    {
        try
        {
            return await load.ConnectAsync(load.SocketEndPoint(random), name).ConfigureAwait(false);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
            return null;
        }
    }

    private GenerateRequest Generate(Random random, int atLeast = 1) => new()
    {
        Prompt = SoakLoad.Prompt(random),
        Model = load.Model(random),
        MaxTokens = Math.Max(atLeast, load.MaxTokens(random)),
        Temperature = 0.7f,
        Seed = (ulong)random.Next(1, int.MaxValue),
    };

    private ChatGenerateRequest Chat(Random random) => new()
    {
        Messages = [new ChatRequestMessage(ChatRoles.User, SoakLoad.Prompt(random))],
        Model = load.Model(random),
        MaxTokens = load.MaxTokens(random),
        Temperature = 0.7f,
    };

    private static bool Expected(SoakTicket ticket)
    {
        ticket.Close(SoakOutcome.Disconnected);
        return true;
    }

    /// <summary>
    /// The outcome of a request that threw: a typed error, or lost when the connection dropped under it. Returns
    /// false (the exception propagates) when the soak is aborting: what is still open then is hung, not lost.
    /// </summary>
    internal static bool Classify(SoakTicket ticket, Exception ex)
    {
        switch (ex)
        {
            case OperationCanceledException:
                return false;
            case ModelRouterConnectionException connection:
                ticket.Close(SoakOutcome.Lost, $"connection: {connection.Code} {connection.Message}");
                return true;
            case ModelRouterException typed:
                ticket.Close(SoakOutcome.Error, typed.Code.ToString());
                return true;
            case TimeoutException or IOException or System.Net.Sockets.SocketException:
                ticket.Close(SoakOutcome.Lost, $"{ex.GetType().Name}: {ex.Message}");
                return true;
            default:
                return false;
        }
    }

    /// <summary>A long-lived connection, reconnected when the server closed it (which the ledger will have counted).</summary>
    private sealed class SharedConnection(SoakLoad load, EndPoint endpoint, string name, bool admin) : IAsyncDisposable
    {
        private readonly SemaphoreSlim gate = new(1, 1);
        private ModelRouterClient? client;

        public int InFlight => client?.InFlight ?? 0;

        public async Task<ModelRouterClient> GetAsync()
        {
            if (client is { IsConnected: true } live)
            {
                return live;
            }

            await gate.WaitAsync(load.Aborting).ConfigureAwait(false);
            try
            {
                if (client is { IsConnected: true } again)
                {
                    return again;
                }

                if (client is not null)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                }

                client = await load.ConnectAsync(endpoint, name, admin).ConfigureAwait(false);
                return client;
            }
            finally
            {
                gate.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (client is not null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            gate.Dispose();
        }
    }
}
