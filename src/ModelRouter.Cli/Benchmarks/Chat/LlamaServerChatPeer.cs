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
    private readonly LlamaServerProcessWatch watch;

    private LlamaServerChatPeer(Process process, Uri address)
    {
        Address = address;
        watch = new LlamaServerProcessWatch(process, "llama-server");
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
        var port = LlamaServerProcessWatch.FreeLoopbackPort();
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
        process.OutputDataReceived += (_, e) => peer.watch.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => peer.watch.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = peer.Address, Timeout = TimeSpan.FromSeconds(10) };
            await peer.watch.WaitReadyAsync(http, TimeSpan.FromMinutes(2), cancellation).ConfigureAwait(false);
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    public ChatStreamClient Client() => new(Address, token: null, model: "chat");

    public void Dispose() => watch.Stop();
}
