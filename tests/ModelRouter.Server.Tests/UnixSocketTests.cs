using System.Net.Sockets;
using ModelRouter.Client;
using ModelRouter.Protocol;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The Unix-domain-socket listener: owner-only permissions, the same protocol as TCP, authentication, cleanup, and a
/// path that is never taken from what owns it (a live server, a regular file), with one-line errors naming the path.
/// </summary>
public sealed class UnixSocketTests : IDisposable
{
    private const int Timeout = 120_000;

    private readonly DirectoryInfo directory = Directory.CreateTempSubdirectory("mr-uds-");

    private string SocketPath => Path.Combine(directory.FullName, "modelrouter.sock");

    public void Dispose() => directory.Delete(recursive: true);

    [Fact(Timeout = Timeout)]
    public async Task The_unix_socket_is_owner_only_serves_the_protocol_and_is_removed_at_stop()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("Unix-domain-socket file modes are a Unix feature.");
            return;
        }

        using var models = TestModels.Create(1);
        var path = SocketPath;
        await using var server = await TestServer.StartAsync(models, residentModels: 1, $"--ModelRouter:UnixSocket={path}");

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        var endpoint = new UnixDomainSocketEndPoint(path);
        await using (var client = await ModelRouterClient.ConnectAsync(endpoint, TestServer.Token, cancellationToken: TestContext.Current.CancellationToken))
        {
            var result = await client.CompleteAsync(
                new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 60, Temperature = 0 }, TestContext.Current.CancellationToken);
            Assert.Equal(TestModels.Reference(60), result.Text);
            Assert.True(await client.PingAsync(TestContext.Current.CancellationToken) > TimeSpan.Zero);
        }

        var refused = await Assert.ThrowsAsync<ModelRouterConnectionException>(async () =>
            await ModelRouterClient.ConnectAsync(endpoint, "wrong-token", cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.AuthenticationFailed, refused.Code);

        await server.StopAsync();
        Assert.False(File.Exists(path));
    }

    [Fact(Timeout = Timeout)]
    public async Task A_stale_socket_file_is_replaced()
    {
        SkipOnWindows();
        var path = SocketPath;

        // A socket file no server listens on: what a killed server leaves (.NET unlinks the file when a socket it bound
        // is disposed, so this one stays open, bound and not listening, until the test ends: connecting is refused).
        using var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        stale.Bind(new UnixDomainSocketEndPoint(path));
        Assert.True(File.Exists(path));
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, $"--ModelRouter:UnixSocket={path}");
        await using var client = await ModelRouterClient.ConnectAsync(new UnixDomainSocketEndPoint(path), TestServer.Token,
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(await client.PingAsync(TestContext.Current.CancellationToken) > TimeSpan.Zero);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_second_server_on_the_same_path_fails_naming_it_and_the_first_keeps_serving()
    {
        SkipOnWindows();
        using var models = TestModels.Create(1);
        var path = SocketPath;
        await using var first = await TestServer.StartAsync(models, residentModels: 1, $"--ModelRouter:UnixSocket={path}");

        var error = await Assert.ThrowsAsync<IOException>(() => TestServer.StartAsync(models, residentModels: 1, $"--ModelRouter:UnixSocket={path}"));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("another server is listening", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);

        await using var client = await ModelRouterClient.ConnectAsync(new UnixDomainSocketEndPoint(path), TestServer.Token,
            cancellationToken: TestContext.Current.CancellationToken);
        var result = await client.CompleteAsync(new GenerateRequest { Model = "m0", Prompt = TestModels.Prompt, MaxTokens = 60, Temperature = 0 },
            TestContext.Current.CancellationToken);
        Assert.Equal(TestModels.Reference(60), result.Text);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_regular_file_at_the_path_is_left_untouched_and_named()
    {
        SkipOnWindows();
        using var models = TestModels.Create(1);
        var path = SocketPath;
        File.WriteAllText(path, "not a socket");

        var error = await Assert.ThrowsAsync<IOException>(() => TestServer.StartAsync(models, residentModels: 1, $"--ModelRouter:UnixSocket={path}"));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("a regular file", error.Message, StringComparison.Ordinal);
        Assert.Equal("not a socket", File.ReadAllText(path));
    }

    [Fact(Timeout = Timeout)]
    public async Task A_missing_directory_is_named()
    {
        SkipOnWindows();
        using var models = TestModels.Create(1);
        var missing = Path.Combine(directory.FullName, "no-such-dir");
        var path = Path.Combine(missing, "s.sock");

        // The configuration check names it first (key, value and directory) ...
        var invalid = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(
            () => TestServer.StartAsync(models, residentModels: 1, $"--ModelRouter:UnixSocket={path}"));
        Assert.Contains(invalid.Failures, f => f.Contains(missing, StringComparison.Ordinal) && f.Contains("does not exist", StringComparison.Ordinal));

        // ... and the listener, should the directory go between the check and the bind.
        var error = Assert.Throws<IOException>(() => Doors.Socket.UnixSocketPath.Prepare(path));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = Timeout)]
    public async Task Nothing_at_the_path_is_nothing_to_remove()
    {
        SkipOnWindows();
        Assert.False(Doors.Socket.UnixSocketPath.Prepare(SocketPath));
        Assert.False(File.Exists(SocketPath));
        await Task.CompletedTask;
    }

    private static void SkipOnWindows()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("Unix-domain-socket files are tested on Unix.");
        }
    }
}
