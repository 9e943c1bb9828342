using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using System.Net;
using System.Net.Sockets;

namespace ModelRouter.Cluster.Tests;

/// <summary>Ports and bounded waits for clusters on 127.0.0.1.</summary>
internal static class Loopback
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>A port free a moment ago (the OS picks it; the caller binds it soon after).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Polls until <paramref name="condition"/> holds; fails the test after <see cref="Bound"/>. Returns how long it took.</summary>
    public static async Task<TimeSpan> WaitForAsync(Func<bool> condition, string what)
    {
        var started = Stopwatch.GetTimestamp();
        while (!condition())
        {
            Assert.True(Stopwatch.GetElapsedTime(started) < Bound, $"{what}: not within {Bound.TotalSeconds:F0} s");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>Stops every host, last started first, each within 20 s, and disposes it.</summary>
    public static async Task StopAllAsync(IEnumerable<IHost> hosts)
    {
        foreach (var host in hosts.Reverse())
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await host.StopAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
            }

            host.Dispose();
        }
    }
}

/// <summary>A node's residency that does not change: what a test says the node holds.</summary>
internal sealed class FixedResidency(params ModelResidency[] models) : ILocalResidency
{
    public ImmutableArray<ModelResidency> Read() => [.. models];
}
