using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ModelRouter.Client;
using ModelRouter.Protocol;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The socket door's timeouts (handshake, idle, minimum frame rate) on a fake clock the test moves, its connection
/// limits (total, per address, Unix-socket clients as one address) and the shared budget for partly received frames.
/// </summary>
public sealed class SocketLimitsTests
{
    private const int Timeout = 120_000;

    private static Task<TestServer> StartAsync(TestModels models, FakeTimeProvider clock, params string[] extra) =>
        TestServer.StartAsync(models, residentModels: 1, services => services.AddSingleton<TimeProvider>(clock), extra);

    [Fact(Timeout = Timeout)]
    public async Task A_connection_without_hello_is_closed_with_a_timeout_error_after_the_handshake_timeout()
    {
        using var models = TestModels.Create(1);
        var clock = new FakeTimeProvider();
        await using var server = await StartAsync(models, clock, "--ModelRouter:Limits:HandshakeTimeoutMs=3000");
        await using var greeted = await RawConnection.OpenAsync(server.Endpoint);
        await using var silent = await RawConnection.ConnectAsync(server.Endpoint);
        await RawConnection.WaitUntilAsync(() => server.Listener.Connections.Count == 2, "the server accepted both connections");

        clock.Advance(TimeSpan.FromSeconds(4));

        var frames = await silent.ReadUntilClosedAsync();
        var error = Assert.Single(frames);
        Assert.Equal((FrameType.Error, 0u, ErrorCode.Timeout), (error.Type, error.RequestId, error.ErrorCode));
        Assert.Empty(await greeted.PingAsync(1)); // the connection that said hello in time is not touched
    }

    [Fact(Timeout = Timeout)]
    public async Task An_idle_connection_is_closed_after_the_idle_timeout_and_traffic_resets_the_clock()
    {
        using var models = TestModels.Create(1);
        var clock = new FakeTimeProvider();
        await using var server = await StartAsync(models, clock, "--ModelRouter:Limits:IdleTimeoutSeconds=30");
        await using var connection = await RawConnection.OpenAsync(server.Endpoint);

        clock.Advance(TimeSpan.FromSeconds(25));
        Assert.Empty(await connection.PingAsync(1)); // 25 s idle: still open; the ping counts as traffic
        clock.Advance(TimeSpan.FromSeconds(25));
        Assert.Empty(await connection.PingAsync(2)); // 25 s since the ping: still open
        clock.Advance(TimeSpan.FromSeconds(31));

        var error = Assert.Single(await connection.ReadUntilClosedAsync());
        Assert.Equal((0u, ErrorCode.Timeout), (error.RequestId, error.ErrorCode));
        Assert.Contains("idle", error.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_frame_sent_below_the_minimum_rate_is_closed_after_the_grace_period()
    {
        using var models = TestModels.Create(1);
        var clock = new FakeTimeProvider();
        await using var server = await StartAsync(models, clock,
            "--ModelRouter:Limits:FrameGracePeriodMs=5000", "--ModelRouter:Limits:MinFrameBytesPerSecond=1024");
        await using var slow = await RawConnection.OpenAsync(server.Endpoint);
        await using var fast = await RawConnection.OpenAsync(server.Endpoint);

        // A header that declares 64 KiB, then 100 bytes of it.
        var frame = RawConnection.RawFrame((byte)FrameType.Generate, 1, new byte[64 * 1024]);
        await slow.SendAsync(frame.AsMemory(0, ProtocolConstants.HeaderSize + 100));
        await RawConnection.WaitUntilAsync(() => server.Listener.Connections.Any(c => c.PartialFrameBytes == ProtocolConstants.HeaderSize + 100),
            "the server holds the partial frame");

        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.False(slow.Closed); // inside the grace period nothing is measured
        clock.Advance(TimeSpan.FromSeconds(4));

        var error = Assert.Single(await slow.ReadUntilClosedAsync());
        Assert.Equal((0u, ErrorCode.Timeout), (error.RequestId, error.ErrorCode));
        Assert.Contains("bytes/s", error.ErrorMessage, StringComparison.Ordinal);
        Assert.Empty(await fast.PingAsync(7)); // others are not affected
        await RawConnection.WaitUntilAsync(() => server.Listener.Context.FrameBudget.Reserved == 0, "the closed connection's reservation is returned");
    }

    [Fact(Timeout = Timeout)]
    public async Task Connections_beyond_MaxConnections_are_refused_with_an_overloaded_error_and_admitted_again_after_a_close()
    {
        using var models = TestModels.Create(1);
        var clock = new FakeTimeProvider();
        await using var server = await StartAsync(models, clock, "--ModelRouter:Limits:MaxConnections=2");
        var first = await RawConnection.OpenAsync(server.Endpoint);
        await using var second = await RawConnection.OpenAsync(server.Endpoint);

        await using (var third = await RawConnection.ConnectAsync(server.Endpoint))
        {
            var refusal = Assert.Single(await third.ReadUntilClosedAsync());
            Assert.Equal((0u, ErrorCode.Overloaded), (refusal.RequestId, refusal.ErrorCode));
        }

        await first.DisposeAsync();
        await RawConnection.WaitUntilAsync(() => server.Listener.Connections.Count == 1, "the server saw the first connection close");
        await using var again = await RawConnection.OpenAsync(server.Endpoint);
        Assert.Empty(await second.PingAsync(3));
    }

    [Fact(Timeout = Timeout)]
    public async Task Connections_beyond_MaxConnectionsPerAddress_are_refused_and_unix_socket_clients_count_as_one_address()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("Unix-domain sockets are tested on Unix.");
        }

        using var models = TestModels.Create(1);
        var directory = Directory.CreateTempSubdirectory("mr-limit-");
        var path = Path.Combine(directory.FullName, "s.sock");
        try
        {
            var clock = new FakeTimeProvider();
            await using var server = await StartAsync(models, clock, "--ModelRouter:Limits:MaxConnectionsPerAddress=1", $"--ModelRouter:UnixSocket={path}");
            await using var tcp = await RawConnection.OpenAsync(server.Endpoint);
            await using (var tcpAgain = await RawConnection.ConnectAsync(server.Endpoint))
            {
                var refusal = Assert.Single(await tcpAgain.ReadUntilClosedAsync());
                Assert.Equal(ErrorCode.Overloaded, refusal.ErrorCode);
            }

            var unix = new UnixDomainSocketEndPoint(path);
            await using var local = await RawConnection.OpenAsync(unix); // another address: admitted
            await using (var localAgain = await RawConnection.ConnectAsync(unix))
            {
                var refusal = Assert.Single(await localAgain.ReadUntilClosedAsync());
                Assert.Equal(ErrorCode.Overloaded, refusal.ErrorCode);
            }

            Assert.Empty(await tcp.PingAsync(1));
            Assert.Empty(await local.PingAsync(2));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task Partly_received_frames_never_hold_more_than_the_frame_budget_and_return_it_when_their_senders_go()
    {
        using var models = TestModels.Create(1);
        var clock = new FakeTimeProvider();
        const int Senders = 10;
        const int FrameBytes = 1 << 20;
        await using var server = await StartAsync(models, clock,
            $"--ModelRouter:Limits:MaxFrameBytes={FrameBytes}", $"--ModelRouter:Limits:MaxBufferedFrameBytes={3 * FrameBytes}",
            "--ModelRouter:Limits:MinFrameBytesPerSecond=1000000", "--ModelRouter:Limits:FrameGracePeriodMs=5000");
        var budget = server.Listener.Context.FrameBudget;
        var frame = RawConnection.RawFrame((byte)FrameType.Generate, 1, new byte[FrameBytes]);
        var senders = new List<RawConnection>();
        try
        {
            for (var i = 0; i < Senders; i++)
            {
                var sender = await RawConnection.OpenAsync(server.Endpoint);
                senders.Add(sender);
                await sender.SendAsync(frame.AsMemory(0, 256 * 1024)); // a quarter of a 1 MiB frame, then nothing
            }

            // Two frames fit the budget (3 MiB holds two 1 MiB frames and their headers, not three): two connections read
            // on, the other eight wait without reading.
            await RawConnection.WaitUntilAsync(
                () => server.Listener.Connections.Count(c => c.IsWaitingForFrameBudget) == Senders - 2
                    && server.Listener.Connections.Count(c => c.PartialFrameBytes == 256 * 1024) == 2,
                "two connections hold reservations and eight wait");
            Assert.Equal(2L * (FrameBytes + ProtocolConstants.HeaderSize), budget.Reserved);
            Assert.True(budget.Reserved <= budget.Capacity);

            // The two holders send far below the minimum rate: past the grace period they are closed, and two waiters
            // take their reservations.
            clock.Advance(TimeSpan.FromSeconds(6));
            await RawConnection.WaitUntilAsync(() => server.Listener.Connections.Count == Senders - 2, "the two slow holders were closed");
            await RawConnection.WaitUntilAsync(
                () => server.Listener.Connections.Count(c => c.IsWaitingForFrameBudget) == Senders - 4, "two waiters took the freed budget");
            Assert.True(budget.Reserved <= budget.Capacity);
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }

        await RawConnection.WaitUntilAsync(() => server.Listener.Connections.Count == 0, "every sender's connection closed");
        Assert.Equal(0, budget.Reserved);

        // The server still serves.
        await using var client = await server.ConnectAsync();
        Assert.True(await client.PingAsync(TestContext.Current.CancellationToken) > TimeSpan.Zero);
    }
}
