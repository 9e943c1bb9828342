using System.Net.Sockets;
using ModelRouter.Client;
using ModelRouter.Protocol;

namespace ModelRouter.Server.Tests;

/// <summary>The Unix-domain-socket listener: owner-only permissions, the same protocol as TCP, authentication, cleanup.</summary>
public sealed class UnixSocketTests
{
    [Fact]
    public async Task The_unix_socket_is_owner_only_serves_the_protocol_and_is_removed_at_stop()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("Unix-domain-socket file modes are a Unix feature.");
            return;
        }

        using var models = TestModels.Create(1);
        var directory = Directory.CreateTempSubdirectory("mr-uds-").FullName;
        var path = Path.Combine(directory, "modelrouter.sock");
        File.WriteAllText(path, "a stale file from an earlier run"); // replaced at start
        try
        {
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

            await Assert.ThrowsAsync<ModelRouterConnectionException>(async () =>
                await ModelRouterClient.ConnectAsync(endpoint, "wrong-token", cancellationToken: TestContext.Current.CancellationToken));

            await server.StopAsync();
            Assert.False(File.Exists(path));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
