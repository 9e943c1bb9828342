using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ModelRouter.Cli.Benchmarks.Chat;

/// <summary>
/// llama.cpp's own llama-server serving the same model on a free loopback port, one slot (<c>-np 1</c>) of the same
/// context as one of our sequences, the same threads, CPU only: its slot keeps the last prompt's KV (cache_prompt, its
/// default) as ours keeps a finished sequence's. <c>--jinja</c>: it renders the messages with llama.cpp's common chat
/// layer, as our server does (docs/chat-templates.md), so both decode the same prompt. Disposing kills it.
/// </summary>
internal sealed class LlamaServerChatPeer : IDisposable
{
    private readonly Process process;
    private readonly Queue<string> logTail = new();

    private LlamaServerChatPeer(Process process, Uri address)
    {
        this.process = process;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>artifacts/peers/cpu/llama-server above the working directory or the executable (built by ./build.sh peers), else null.</summary>
    public static string? Locate()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "artifacts", "peers", "cpu", "llama-server");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    public static async Task<LlamaServerChatPeer> StartAsync(string executable, ChatBenchSettings settings, CancellationToken cancellation)
    {
        var port = FreeLoopbackPort();
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "-m", Path.GetFullPath(settings.ModelPath), "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
                     "-c", settings.ContextPerSequence.ToString(CultureInfo.InvariantCulture), "-np", "1", "-ngl", "0",
                     "-t", settings.Threads.ToString(CultureInfo.InvariantCulture), "--jinja",
                 })
        {
            info.ArgumentList.Add(arg);
        }

        if (settings.ChatTemplate is { } template)
        {
            info.ArgumentList.Add("--chat-template");
            info.ArgumentList.Add(template);
        }

        var process = Process.Start(info) ?? throw new IOException($"could not start {executable}");
        var peer = new LlamaServerChatPeer(process, new Uri($"http://127.0.0.1:{port}/"));
        process.OutputDataReceived += (_, e) => peer.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => peer.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await peer.WaitReadyAsync(TimeSpan.FromMinutes(2), cancellation).ConfigureAwait(false);
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    public ChatStreamClient Client() => new(Address, token: null, model: "chat");

    public void Dispose()
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

    /// <summary>Polls /health (200 once the model is loaded) every 100 ms until the deadline: the process gives no other signal.</summary>
    private async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellation)
    {
        using var http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(10) };
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (process.HasExited)
            {
                throw new IOException($"llama-server exited with {process.ExitCode} before it was ready\n{LogTail()}");
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

        throw new IOException($"llama-server was not ready within {timeout.TotalSeconds:F0} s\n{LogTail()}");
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (logTail)
        {
            logTail.Enqueue(line);
            while (logTail.Count > 20)
            {
                logTail.Dequeue();
            }
        }
    }

    private string LogTail()
    {
        lock (logTail)
        {
            return "llama-server log (last lines):\n  " + string.Join("\n  ", logTail);
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
