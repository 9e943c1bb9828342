using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ModelRouter.Cli.Benchmarks.Swap;

/// <summary>
/// llama.cpp's own multi-model answer: <c>llama-server</c> in router mode (no model on its command line, the models
/// from a preset file, <c>--models-max 1</c> so only one is loaded at a time), on a free loopback port. A switch
/// is timed from sending a streamed /v1/completions request for a model that is not loaded to its first streamed
/// token: the router stops the other model's instance, spawns one for this model (load, warm-up) and forwards.
/// Disposing kills the router and its model instances.
/// </summary>
internal sealed class LlamaServerRouter : IDisposable
{
    private readonly HttpClient http;
    private readonly string presetDirectory;
    private readonly LlamaServerProcessWatch watch;

    private LlamaServerRouter(Process process, HttpClient http, string presetDirectory)
    {
        this.http = http;
        this.presetDirectory = presetDirectory;
        watch = new LlamaServerProcessWatch(process, "llama-server router");
    }

    public const string NotBuiltReason = "./build.sh peers has not been built";

    /// <summary>artifacts/peers/cpu/llama-server above the working directory or the executable; null when absent.</summary>
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

    /// <summary>Starts the router with one preset per (id, path) and waits until /health answers.</summary>
    public static LlamaServerRouter Start(string executable, IReadOnlyList<(string Id, string Path)> models, int threads, TimeSpan readyTimeout, CancellationToken cancellation)
    {
        var presetDirectory = Directory.CreateTempSubdirectory("mr-bench-swap-router-").FullName;
        var preset = new StringBuilder("version = 1\n\n");
        foreach (var (id, path) in models)
        {
            preset.Append(CultureInfo.InvariantCulture, $"[{id}]\nmodel = {path}\n\n");
        }

        var presetPath = Path.Combine(presetDirectory, "models.ini");
        File.WriteAllText(presetPath, preset.ToString());

        var port = LlamaServerProcessWatch.FreeLoopbackPort();
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--models-preset", presetPath, "--models-max", "1", "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
                     "-c", "512", "-b", "64", "-ub", "64", "-np", "1", "-ngl", "0" })
        {
            info.ArgumentList.Add(arg);
        }

        if (threads > 0)
        {
            info.ArgumentList.Add("-t");
            info.ArgumentList.Add(threads.ToString(CultureInfo.InvariantCulture));
        }

        var process = Process.Start(info) ?? throw new IOException($"could not start {executable}");
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(2) };
        var router = new LlamaServerRouter(process, http, presetDirectory);
        process.OutputDataReceived += (_, e) => router.watch.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => router.watch.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            router.watch.WaitReadyAsync(http, readyTimeout, cancellation).GetAwaiter().GetResult(); // the router's callers are synchronous
            return router;
        }
        catch
        {
            router.Dispose();
            throw;
        }
    }

    /// <summary>A short non-streamed completion for <paramref name="id"/>: makes it the loaded model.</summary>
    public void Complete(string id, CancellationToken cancellation)
    {
        using var response = http.Send(Request(id, stream: false, maxTokens: 1), HttpCompletionOption.ResponseContentRead, cancellation);
        EnsureOk(response, id);
    }

    /// <summary>Milliseconds from sending a streamed completion for <paramref name="id"/> to its first streamed token.</summary>
    public double TimeToFirstStreamedToken(string id, CancellationToken cancellation)
    {
        var start = Stopwatch.GetTimestamp();
        using var response = http.Send(Request(id, stream: true, maxTokens: 2), HttpCompletionOption.ResponseHeadersRead, cancellation);
        EnsureOk(response, id);
        using var reader = new StreamReader(response.Content.ReadAsStream(cancellation));
        // Without a token event (a piece held back as incomplete UTF-8), the end of the stream is the first token's bound.
        ServerSentTokens.ReadToFirstTokenAsync(reader, cancellation).GetAwaiter().GetResult();
        var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        reader.ReadToEnd(); // let the two-token request finish before the next one
        return elapsed;
    }

    public void Dispose()
    {
        try
        {
            watch.Stop();
        }
        finally
        {
            http.Dispose();
            try
            {
                Directory.Delete(presetDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static HttpRequestMessage Request(string id, bool stream, int maxTokens)
    {
        var body = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = id,
            ["prompt"] = SwapBenchSettings.Prompt,
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["stream"] = stream,
            // Without this a repeated prompt on a loaded model skips its prefill (slot KV reuse), which our
            // resident first token does not: the same request must cost the same work on both sides.
            ["cache_prompt"] = false,
        });
        return new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
    }

    private void EnsureOk(HttpResponseMessage response, string id)
    {
        if (!response.IsSuccessStatusCode)
        {
            var detail = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            throw new IOException($"llama-server router: {id} answered {(int)response.StatusCode}: {detail}\n{watch.LogTail()}");
        }
    }
}
