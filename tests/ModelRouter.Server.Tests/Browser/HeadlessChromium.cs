using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ModelRouter.Server.Tests.Browser;

/// <summary>
/// Debian's Chromium, headless, driven over the Chrome DevTools Protocol on its WebSocket (System.Net.WebSockets, no
/// browser-automation package). One page: navigate, evaluate script (awaiting promises), wait for a condition in the
/// page, take screenshots; script exceptions and security (content-policy) messages are collected for the test.
/// </summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    private static readonly string[] Names = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

    private readonly Process process;
    private readonly string profile;
    private readonly ClientWebSocket socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> pending = new();
    private readonly CancellationTokenSource closing = new();
    private Task? receiving;
    private int nextId;

    private HeadlessChromium(Process process, string profile)
    {
        this.process = process;
        this.profile = profile;
    }

    /// <summary>Uncaught script exceptions and security messages (a content-policy refusal) seen so far.</summary>
    public ConcurrentQueue<string> Problems { get; } = new();

    /// <summary>MR_CHROMIUM, else the first of the usual names on PATH; null when there is none.</summary>
    public static string? Find()
    {
        if (Environment.GetEnvironmentVariable("MR_CHROMIUM") is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return Names.SelectMany(name => path.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(dir => Path.Combine(dir, name))).FirstOrDefault(File.Exists);
    }

    public static async Task<HeadlessChromium> StartAsync(string executable, int width, int height, CancellationToken cancellation)
    {
        var profile = Directory.CreateTempSubdirectory("mr-chromium-").FullName;
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--mute-audio", $"--window-size={width},{height}", $"--user-data-dir={profile}", "--remote-debugging-port=0",
            "about:blank",
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{executable} did not start");
        var browser = new HeadlessChromium(process, profile);
        try
        {
            // Chromium says where its DevTools listen on stderr: "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
            var seen = new StringBuilder();
            string? endpoint = null;
            while (endpoint is null && await process.StandardError.ReadLineAsync(cancellation) is { } line)
            {
                seen.AppendLine(line);
                const string marker = "DevTools listening on ";
                var at = line.IndexOf(marker, StringComparison.Ordinal);
                endpoint = at >= 0 ? line[(at + marker.Length)..].Trim() : null;
            }

            if (endpoint is null)
            {
                throw new InvalidOperationException($"{executable} exited before opening DevTools:\n{seen}");
            }

            _ = process.StandardError.ReadToEndAsync(CancellationToken.None); // keep draining so it never blocks on a full pipe
            _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var port = new Uri(endpoint).Port;
            using var http = new HttpClient();
            var targets = await http.GetFromJsonAsync<JsonElement>($"http://127.0.0.1:{port}/json/list", cancellation);
            var page = targets.EnumerateArray().First(t => t.GetProperty("type").GetString() == "page").GetProperty("webSocketDebuggerUrl").GetString()!;
            await browser.socket.ConnectAsync(new Uri(page), cancellation);
            browser.receiving = browser.ReceiveAsync();
            await browser.SendAsync("Runtime.enable", null, cancellation);
            await browser.SendAsync("Log.enable", null, cancellation);
            await browser.SendAsync("Page.enable", null, cancellation);
            await browser.SendAsync("Emulation.setDeviceMetricsOverride",
                new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false }, cancellation);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    public async Task NavigateAsync(Uri url, CancellationToken cancellation)
    {
        var result = await SendAsync("Page.navigate", new JsonObject { ["url"] = url.ToString() }, cancellation);
        if (result.TryGetProperty("errorText", out var error))
        {
            throw new InvalidOperationException($"navigating to {url} failed: {error.GetString()}");
        }
    }

    /// <summary>Runs <paramref name="expression"/> in the page (awaiting a promise) and returns its JSON value.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression, CancellationToken cancellation)
    {
        var result = await SendAsync("Runtime.evaluate",
            new JsonObject { ["expression"] = expression, ["awaitPromise"] = true, ["returnByValue"] = true }, cancellation);
        if (result.TryGetProperty("exceptionDetails", out var details))
        {
            var text = details.TryGetProperty("exception", out var exception) && exception.TryGetProperty("description", out var description)
                ? description.GetString() : details.GetProperty("text").GetString();
            throw new InvalidOperationException($"the page threw: {text}");
        }

        return result.GetProperty("result").TryGetProperty("value", out var value) ? value.Clone() : default;
    }

    /// <summary>
    /// Waits, inside the page, until <paramref name="condition"/> (a JavaScript expression) is truthy; returns its value.
    /// The page re-checks it every 50 ms of its own clock and gives up after <paramref name="timeout"/> with
    /// <paramref name="what"/> in the error: a bound on a hang, not a timing assertion.
    /// </summary>
    public Task<JsonElement> WaitForAsync(string condition, string what, TimeSpan timeout, CancellationToken cancellation) =>
        EvaluateAsync($$"""
            new Promise((resolve, reject) => {
              const deadline = Date.now() + {{(long)timeout.TotalMilliseconds}};
              const check = () => {
                let value;
                try { value = ({{condition}}); } catch (e) { value = undefined; }
                if (value) resolve(value);
                else if (Date.now() > deadline) reject(new Error({{JsonSerializer.Serialize("timed out waiting for " + what)}}));
                else setTimeout(check, 50);
              };
              check();
            })
            """, cancellation);

    public async Task ScreenshotAsync(string path, CancellationToken cancellation)
    {
        var result = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" }, cancellation);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(result.GetProperty("data").GetString()!), cancellation);
    }

    public async Task<JsonElement> SendAsync(string method, JsonObject? parameters, CancellationToken cancellation)
    {
        var id = Interlocked.Increment(ref nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = reply;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        await socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, cancellation);
        return await reply.Task.WaitAsync(cancellation);
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[64 << 10];
        using var message = new MemoryStream();
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var read = await socket.ReceiveAsync(buffer, closing.Token);
                if (read.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, read.Count);
                if (!read.EndOfMessage)
                {
                    continue;
                }

                Dispatch(message.GetBuffer().AsSpan(0, (int)message.Length));
                message.SetLength(0);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
        }

        foreach (var waiting in pending.Values)
        {
            waiting.TrySetException(new InvalidOperationException("the browser closed its DevTools connection"));
        }
    }

    private void Dispatch(ReadOnlySpan<byte> json)
    {
        using var document = JsonDocument.Parse(json.ToArray());
        var root = document.RootElement;
        if (root.TryGetProperty("id", out var id))
        {
            if (pending.TryRemove(id.GetInt32(), out var reply))
            {
                if (root.TryGetProperty("error", out var error))
                {
                    reply.TrySetException(new InvalidOperationException($"DevTools error: {error.GetRawText()}"));
                }
                else
                {
                    reply.TrySetResult(root.GetProperty("result").Clone());
                }
            }

            return;
        }

        var method = root.GetProperty("method").GetString();
        var parameters = root.GetProperty("params");
        if (method == "Runtime.exceptionThrown")
        {
            Problems.Enqueue("exception: " + parameters.GetProperty("exceptionDetails").GetRawText());
        }
        else if (method == "Log.entryAdded" && parameters.GetProperty("entry").GetProperty("source").GetString() == "security")
        {
            Problems.Enqueue("security: " + parameters.GetProperty("entry").GetProperty("text").GetString());
        }
    }

    public async ValueTask DisposeAsync()
    {
        await closing.CancelAsync();
        socket.Abort();
        socket.Dispose();
        if (receiving is not null)
        {
            await receiving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        try
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            // it had exited already
        }

        process.Dispose();
        closing.Dispose();
        try
        {
            Directory.Delete(profile, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
