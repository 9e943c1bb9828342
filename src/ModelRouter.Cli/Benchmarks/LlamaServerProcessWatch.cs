using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ModelRouter.Cli.Benchmarks;

/// <summary>
/// What the benchmarks that start llama.cpp's llama-server (the chat peer, the router-mode peer) share: the last lines
/// of its log for error messages, a free loopback port for it, and the wait until its /health says the model is loaded
/// (the process gives no other signal), and stopping it.
/// </summary>
internal sealed class LlamaServerProcessWatch(Process process, string name)
{
    private const int TailLines = 20;

    private readonly Queue<string> tail = new();

    /// <summary>Hook both output streams of the process here before it starts reading them.</summary>
    public void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (tail)
        {
            tail.Enqueue(line);
            while (tail.Count > TailLines)
            {
                tail.Dequeue();
            }
        }
    }

    /// <summary>The last lines of the log, to append to an error message.</summary>
    public string LogTail()
    {
        lock (tail)
        {
            return "llama-server log (last lines):\n  " + string.Join("\n  ", tail);
        }
    }

    /// <summary>Polls GET /health on <paramref name="http"/> (its base address) every 100 ms until 200 or the deadline.</summary>
    /// <exception cref="IOException">The process exited first, or the deadline passed (with the log's last lines).</exception>
    public async Task WaitReadyAsync(HttpClient http, TimeSpan timeout, CancellationToken cancellation)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            cancellation.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new IOException($"{name} exited with {process.ExitCode} before it was ready\n{LogTail()}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri("health", UriKind.Relative), cancellation).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(100, cancellation).ConfigureAwait(false);
        }

        throw new IOException($"{name} was not ready within {timeout.TotalSeconds:F0} s\n{LogTail()}");
    }

    /// <summary>Kills the process (and anything it started) if it still runs, waits for it, and disposes it.</summary>
    public void Stop()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        finally
        {
            process.Dispose();
        }
    }

    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
