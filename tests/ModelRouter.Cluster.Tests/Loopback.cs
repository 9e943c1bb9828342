using System.Diagnostics;
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
}
