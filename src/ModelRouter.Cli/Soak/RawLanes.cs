using System.Net.Sockets;
using ModelRouter.Protocol;

namespace ModelRouter.Cli.Soak;

/// <summary>
/// Hostile and awkward clients of the socket door on raw connections: bad frames of every kind (unknown type, bad
/// magic, declared length over the limit, truncated payload, invalid UTF-8, request id 0, a duplicate id in flight,
/// garbage), half-sent frames (then a close, or a stall the server must cut), a frame sent a few bytes at a time, a
/// reader that drains a stream slowly through a small window, and a cancel checked for exactly one terminal frame.
/// Each case is one request in the ledger; an answer that differs from docs/protocol.md is also counted as off-spec.
/// </summary>
internal sealed class RawLanes(SoakLoad load)
{
    /// <summary>How long a stalled half frame may stay open before the soak calls it off-spec (frame grace + slack).</summary>
    private static readonly TimeSpan StallLimit = TimeSpan.FromSeconds(30);

    private static readonly string[] Cases =
        ["unknown-type", "bad-magic", "too-large", "truncated", "invalid-utf8", "id-zero", "duplicate-id", "garbage", "half-frame-close", "slow-sender", "slow-reader", "cancel"];

    public IReadOnlyList<Task> Start()
    {
        var lanes = new List<Task>();
        for (var i = 0; i < load.Settings.Concurrency; i++)
        {
            lanes.Add(Task.Run(() => load.LoopAsync("raw", 2100 + i, CaseAsync)));
        }

        lanes.Add(Task.Run(() => load.LoopAsync("raw.half-frame-stall", 2200, StallAsync)));
        return lanes;
    }

    private async Task CaseAsync(Random random)
    {
        var name = Cases[random.Next(Cases.Length)];
        var ticket = load.Ledger.Open("raw." + name);
        var endpoint = load.SocketEndPoint(random);
        var slowReader = name == "slow-reader";
        RawConnection connection;
        try
        {
            connection = await RawConnection.ConnectAsync(endpoint, hello: true, load.Aborting, readBuffer: slowReader ? 512 : 16 * 1024).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            ticket.Close(SoakOutcome.Lost, $"connect: {ex.Message}");
            return;
        }

        await using (connection.ConfigureAwait(false))
        {
            try
            {
                await RunAsync(name, connection, ticket, random).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                ticket.Close(SoakOutcome.Closed, ex.Message); // the server cut us while we were still writing
            }
        }

        await load.PauseAsync(random, 300).ConfigureAwait(false);
    }

    private async Task RunAsync(string name, RawConnection connection, SoakTicket ticket, Random random)
    {
        var token = load.Aborting;
        const uint Id = 7;
        switch (name)
        {
            case "unknown-type":
                await connection.SendAsync(Frames.Header(0x7E, Id, 0), token).ConfigureAwait(false);
                await ExpectAsync(connection, ticket, name, Id, ErrorCode.UnknownFrameType, connectionStays: true).ConfigureAwait(false);
                break;
            case "bad-magic":
                await connection.SendAsync(Frames.Header((byte)FrameType.Ping, Id, 8, magic0: (byte)'X'), token).ConfigureAwait(false);
                await ExpectAsync(connection, ticket, name, 0, ErrorCode.BadFrame, connectionStays: false).ConfigureAwait(false);
                break;
            case "too-large":
                await connection.SendAsync(Frames.Header((byte)FrameType.Generate, Id, ProtocolLimits.AbsoluteMaxPayloadBytes + 1u), token).ConfigureAwait(false);
                await ExpectAsync(connection, ticket, name, 0, ErrorCode.FrameTooLarge, connectionStays: false).ConfigureAwait(false);
                break;
            case "truncated":
                await connection.SendAsync(Frames.TruncatedGenerate(Id), token).ConfigureAwait(false);
                await ExpectAsync(connection, ticket, name, Id, ErrorCode.BadFrame, connectionStays: true).ConfigureAwait(false);
                break;
            case "invalid-utf8":
                await connection.SendAsync(Frames.InvalidUtf8Generate(Id), token).ConfigureAwait(false);
                await ExpectAsync(connection, ticket, name, Id, ErrorCode.InvalidUtf8, connectionStays: true).ConfigureAwait(false);
                break;
            case "id-zero":
                await connection.SendAsync(Frames.Generate(0, "id zero", 4), token).ConfigureAwait(false);
                await ExpectAnyErrorAsync(connection, ticket, name, 0).ConfigureAwait(false);
                break;
            case "duplicate-id":
                await DuplicateAsync(connection, ticket).ConfigureAwait(false);
                break;
            case "garbage":
                var bytes = new byte[64];
                random.NextBytes(bytes);
                await connection.SendAsync(bytes, token).ConfigureAwait(false);
                await ExpectAnyErrorAsync(connection, ticket, name, 0).ConfigureAwait(false);
                break;
            case "half-frame-close":
                var frame = Frames.Generate(Id, "half a frame, then the client is gone", 8);
                await connection.SendAsync(frame.AsMemory(0, frame.Length / 2), token).ConfigureAwait(false);
                connection.Abort();
                ticket.Close(SoakOutcome.Disconnected);
                break;
            case "slow-sender":
                await connection.SendSlowlyAsync(Frames.Generate(Id, SoakLoad.Prompt(random), load.MaxTokens(random)), 8, TimeSpan.FromMilliseconds(20), token).ConfigureAwait(false);
                Terminal(ticket, name, await connection.TerminalAsync(Id, token).ConfigureAwait(false));
                break;
            case "slow-reader":
                await connection.SendAsync(Frames.Generate(Id, SoakLoad.Prompt(random), Math.Max(32, load.MaxTokens(random))), token).ConfigureAwait(false);
                Terminal(ticket, name, await connection.TerminalAsync(Id, token, readPause: TimeSpan.FromMilliseconds(20)).ConfigureAwait(false));
                break;
            default:
                await CancelAsync(connection, ticket).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>A generate cancelled after its first chunk: exactly one terminal frame (done "cancelled" or error 305), and the connection goes on.</summary>
    private async Task CancelAsync(RawConnection connection, SoakTicket ticket)
    {
        var token = load.Aborting;
        const uint Id = 11;
        await connection.SendAsync(Frames.Generate(Id, "a long answer to be cancelled", 64), token).ConfigureAwait(false);
        RawAnswer? terminal = null;
        var cancelled = false;
        var terminals = 0;
        // After the terminal frame, a ping: its pong comes after anything else the server still sends for the request.
        const uint Fence = Id + 1;
        while (await connection.NextAsync(token).ConfigureAwait(false) is { } answer)
        {
            if (answer.RequestId == Id && answer.Final)
            {
                terminals++;
                if (terminal is null)
                {
                    terminal = answer;
                    await connection.SendAsync(Frames.Ping(Fence, 42), token).ConfigureAwait(false);
                }
            }
            else if (answer is { RequestId: Id, Type: FrameType.TokenChunk } && !cancelled)
            {
                cancelled = true;
                await connection.SendAsync(Frames.Cancel(Id), token).ConfigureAwait(false);
            }
            else if (answer is { RequestId: Fence, Type: FrameType.Pong })
            {
                break;
            }
            else if (answer.RequestId == 0 && answer.Type == FrameType.Error)
            {
                break;
            }
        }

        if (terminals > 1)
        {
            load.Ledger.OffSpec($"raw.cancel: {terminals} terminal frames for one request");
        }

        Terminal(ticket, "cancel", terminal);
    }

    /// <summary>Two generates with the same id back to back: the spec makes the second a fatal 106; never two terminal frames.</summary>
    private async Task DuplicateAsync(RawConnection connection, SoakTicket ticket)
    {
        var token = load.Aborting;
        const uint Id = 5;
        var frame = Frames.Generate(Id, "the same id twice", 16);
        await connection.SendAsync(frame.Concat(frame).ToArray(), token).ConfigureAwait(false);
        var terminals = 0;
        var error = ErrorCode.None;
        // Ends at the close (106 is fatal), or at two terminal frames (the duplicate's error and the first's end), or
        // after a bound: a server that keeps the connection and answers once would otherwise keep this case waiting.
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(token);
        bound.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            while (terminals < 2 && await connection.NextAsync(bound.Token).ConfigureAwait(false) is { } answer)
            {
                if ((answer.RequestId == Id && answer.Final) || (answer.RequestId == 0 && answer.Type == FrameType.Error))
                {
                    terminals++;
                    error = error == ErrorCode.None ? answer.Error : error;
                }
            }
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            // The bound: what was seen is the answer.
        }

        if (error != ErrorCode.DuplicateRequestId)
        {
            load.Ledger.OffSpec($"raw.duplicate-id: answered {error}, the spec says {ErrorCode.DuplicateRequestId}");
        }

        ticket.Close(error == ErrorCode.None ? SoakOutcome.Closed : SoakOutcome.Error, error.ToString());
    }

    /// <summary>A half frame left hanging: the server must cut the connection once the frame's grace period has passed.</summary>
    private async Task StallAsync(Random random)
    {
        var ticket = load.Ledger.Open("raw.half-frame-stall");
        RawConnection connection;
        try
        {
            connection = await RawConnection.ConnectAsync(load.SocketEndPoint(random), hello: true, load.Aborting).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            ticket.Close(SoakOutcome.Lost, $"connect: {ex.Message}");
            return;
        }

        await using (connection.ConfigureAwait(false))
        {
            var frame = Frames.Generate(9, "a frame that never ends", 8);
            await connection.SendAsync(frame.AsMemory(0, frame.Length - 5), load.Aborting).ConfigureAwait(false);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(load.Aborting);
            limit.CancelAfter(StallLimit);
            try
            {
                while (await connection.NextAsync(limit.Token).ConfigureAwait(false) is not null)
                {
                }

                ticket.Close(SoakOutcome.Closed);
            }
            catch (OperationCanceledException) when (!load.Aborting.IsCancellationRequested)
            {
                load.Ledger.OffSpec($"raw.half-frame-stall: a stalled partial frame was not cut within {StallLimit.TotalSeconds} s");
                ticket.Close(SoakOutcome.Disconnected);
            }
        }

        await load.PauseAsync(random, 1000).ConfigureAwait(false);
    }

    /// <summary>An error with the given code on the given id; then, if the connection should stay, a ping must be answered.</summary>
    private async Task ExpectAsync(RawConnection connection, SoakTicket ticket, string name, uint id, ErrorCode code, bool connectionStays)
    {
        var answer = await connection.TerminalAsync(id, load.Aborting).ConfigureAwait(false);
        if (answer is null)
        {
            load.Ledger.OffSpec($"raw.{name}: the connection closed without an error frame");
            ticket.Close(SoakOutcome.Closed);
            return;
        }

        if (answer.Value.Type != FrameType.Error || answer.Value.Error != code || answer.Value.RequestId != id)
        {
            load.Ledger.OffSpec($"raw.{name}: answered {answer.Value.Type} {answer.Value.Error} on id {answer.Value.RequestId}, the spec says error {code} on id {id}");
        }

        if (connectionStays)
        {
            await connection.SendAsync(Frames.Ping(id + 100, 1), load.Aborting).ConfigureAwait(false);
            if (await connection.TerminalAsync(id + 100, load.Aborting).ConfigureAwait(false) is not { Type: FrameType.Pong })
            {
                load.Ledger.OffSpec($"raw.{name}: the connection did not stay after a non-fatal error");
            }
        }

        ticket.Close(SoakOutcome.Error, answer.Value.Error.ToString());
    }

    private async Task ExpectAnyErrorAsync(RawConnection connection, SoakTicket ticket, string name, uint id)
    {
        var answer = await connection.TerminalAsync(id, load.Aborting).ConfigureAwait(false);
        if (answer is { Type: FrameType.Error })
        {
            ticket.Close(SoakOutcome.Error, answer.Value.Error.ToString());
            return;
        }

        if (answer is null)
        {
            load.Ledger.OffSpec($"raw.{name}: the connection closed without an error frame");
            ticket.Close(SoakOutcome.Closed);
            return;
        }

        load.Ledger.OffSpec($"raw.{name}: answered {answer.Value.Type} where an error was due");
        ticket.Close(SoakOutcome.Done);
    }

    private static void Terminal(SoakTicket ticket, string name, RawAnswer? answer)
    {
        switch (answer)
        {
            case { Type: FrameType.Done }:
                ticket.Close(SoakOutcome.Done);
                break;
            case { Type: FrameType.Error, Error: ErrorCode.Cancelled }:
                ticket.Close(SoakOutcome.Cancelled);
                break;
            case { Type: FrameType.Error }:
                ticket.Close(SoakOutcome.Error, answer.Value.Error.ToString());
                break;
            default:
                ticket.Close(SoakOutcome.Lost, $"raw.{name}: {(answer is null ? "the connection closed" : answer.Value.Type.ToString())} before the request's terminal frame");
                break;
        }
    }
}
