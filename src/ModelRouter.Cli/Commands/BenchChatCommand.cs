using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ModelRouter.Cli.Benchmarks;
using ModelRouter.Cli.Benchmarks.Chat;
using ModelRouter.Runtime;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter bench-chat`: a multi-turn chat with a growing history through the HTTP door, TTFT per turn with prefix
/// reuse, without, and with an evict/restore before every turn (and llama-server when built); the table and summary on
/// stdout, CSV, markdown, text and summary.json in --out, progress on stderr. Exit 1 when the modes' greedy answers
/// differ or a swap was not confirmed.
/// </summary>
internal static class BenchChatCommand
{
    private const int Failure = 1;
    private const int UsageError = 2;
    private const string DefaultPreset = "qwen2.5-0.5b";

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = $"GGUF with a chat template (default: {DefaultPreset} forged as q4_0, seed 1, into the temp folder, reused when there)." };
        var turns = new Option<int>("--turns") { Description = "Chat turns (each sends the whole conversation so far and a new user message).", DefaultValueFactory = _ => 10 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per answer (greedy).", DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads") { Description = "CPU threads per decode, ours and llama-server's.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var context = new Option<int>("--context") { Description = "Context cells per sequence (ours: Scheduler:ContextPerSequence; llama-server: -c with one slot).", DefaultValueFactory = _ => 2048 };
        var template = new Option<string?>("--chat-template") { Description = "Chat template for a model without one in its metadata (a built-in name such as chatml), for ours and llama-server." };
        var llamaServer = new Option<string?>("--llama-server") { Description = "llama-server executable for the fourth column (default: artifacts/peers/cpu/llama-server, built by ./build.sh peers)." };
        var noPeer = new Option<bool>("--no-peer") { Description = "Leave llama-server out even when it is built." };
        var output = new Option<string?>("--out") { Description = "Directory for bench-chat.csv, bench-chat.md, bench-chat.txt and summary.json." };
        var command = new Command("bench-chat", "Measure time to first token over a 10-turn chat with a growing history: prefix reuse on, off, and across a model swap before every turn (and llama-server when built).")
        {
            model, turns, maxTokens, threads, context, template, llamaServer, noPeer, output,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            try
            {
                var modelPath = parse.GetValue(model) ?? ForgeDefault(cancellation);
                var (peerPath, peerSkipped) = Peer(parse.GetValue(noPeer), parse.GetValue(llamaServer));
                var settings = new ChatBenchSettings
                {
                    ModelPath = modelPath,
                    Turns = parse.GetValue(turns),
                    MaxTokens = parse.GetValue(maxTokens),
                    Threads = parse.GetValue(threads),
                    ContextPerSequence = parse.GetValue(context),
                    ChatTemplate = parse.GetValue(template),
                    LlamaServerPath = peerPath,
                    PeerSkipped = peerSkipped,
                };
                settings.Validate();
                return await RunAsync(settings, parse.GetValue(output), cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ArgumentException or FileNotFoundException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return UsageError;
            }
            catch (Exception ex) when (ex is InvalidModelFileException or ModelLoadException or ModelRouter.Client.ModelRouterException or IOException
                                           or UnauthorizedAccessException or InvalidOperationException or OperationCanceledException
                                           or System.Net.Sockets.SocketException or System.Net.Http.HttpRequestException
                                           or System.ComponentModel.Win32Exception or Microsoft.Extensions.Options.OptionsValidationException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                if (ex.Message.Contains("has no chat template", StringComparison.Ordinal))
                {
                    Console.Error.WriteLine("hint: name one with --chat-template (e.g. chatml)");
                }

                return Failure;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(ChatBenchSettings settings, string? outputDirectory, CancellationToken cancellation)
    {
        var build = NativeRuntime.EnsureInitialized();
        var c = CultureInfo.InvariantCulture;
        var header = new List<string>
        {
            string.Create(c, $"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"),
            "command: modelrouter " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
            $"machine: {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}; " +
            $"llama.cpp {build.LlamaCommit[..Math.Min(7, build.LlamaCommit.Length)]}, backends {string.Join("+", build.CompiledBackends)}",
            string.Create(c, $"model: {settings.ModelPath} ({new FileInfo(settings.ModelPath).Length / 1048576.0:F1} MiB); {settings.Threads} thread(s); {settings.Turns} turns, answers of at most {settings.MaxTokens} tokens (greedy); context {settings.ContextPerSequence} per sequence; chat template {settings.ChatTemplate ?? "the model's own"}"),
            "load average (1/5/15 min) at start: " + LoadAverage.Read(),
        };
        foreach (var line in header)
        {
            Console.Error.WriteLine("[bench-chat] " + line);
        }

        var modes = await new ChatBenchRunner(settings, Console.Error).RunAsync(cancellation).ConfigureAwait(false);
        header.Add("load average (1/5/15 min) at end: " + LoadAverage.Read());
        header.Add("TTFT: client-side, from sending the streamed chat request to its first content delta; cached: usage.prompt_tokens_details.cached_tokens");
        var table = ChatBenchReport.Table(modes);
        var summary = ChatBenchReport.Summarize(modes);
        var summaryText = ChatBenchReport.SummaryText(summary);
        Console.Out.Write(table.ToText());
        Console.Out.Write(summaryText);
        if (outputDirectory is not null)
        {
            Directory.CreateDirectory(outputDirectory);
            File.WriteAllText(Path.Combine(outputDirectory, "bench-chat.csv"), table.ToCsv());
            File.WriteAllText(Path.Combine(outputDirectory, "bench-chat.md"), ChatBenchReport.Markdown(header, table, summary));
            File.WriteAllText(Path.Combine(outputDirectory, "bench-chat.txt"), string.Join('\n', header) + "\n\n" + table.ToText() + "\n" + summaryText);
            var run = new Dictionary<string, string>
            {
                ["date"] = header[0]["date: ".Length..],
                ["model"] = settings.ModelPath,
                ["threads"] = settings.Threads.ToString(c),
                ["machine"] = header[2]["machine: ".Length..],
                ["load_average_start"] = header[4][(header[4].IndexOf(": ", StringComparison.Ordinal) + 2)..],
                ["load_average_end"] = header[5][(header[5].IndexOf(": ", StringComparison.Ordinal) + 2)..],
            };
            File.WriteAllText(Path.Combine(outputDirectory, "summary.json"), ChatBenchReport.SummaryJson(summary, modes, run));
            Console.Error.WriteLine($"[bench-chat] wrote bench-chat.csv, bench-chat.md, bench-chat.txt and summary.json to {Path.GetFullPath(outputDirectory)}");
        }

        return summary.Passed ? 0 : Failure;
    }

    /// <summary>The peer to run and, when none, why.</summary>
    private static (string? Path, string? Skipped) Peer(bool noPeer, string? given)
    {
        if (noPeer)
        {
            return (null, "--no-peer");
        }

        if (given is not null)
        {
            return (given, null);
        }

        return LlamaServerChatPeer.Locate() is { } found
            ? (found, null)
            : (null, "artifacts/peers/cpu/llama-server is not built (./build.sh peers builds it)");
    }

    /// <summary>The default model: qwen2.5-0.5b forged as q4_0 (seed 1) in the temp folder; the same options always give the same bytes, so a file already there is used.</summary>
    private static string ForgeDefault(CancellationToken cancellation)
    {
        var path = Path.Combine(Path.GetTempPath(), "modelrouter-bench-chat", $"{DefaultPreset}-forged-q4_0-seed1.gguf");
        if (File.Exists(path))
        {
            Console.Error.WriteLine($"[bench-chat] model: {path} (forged earlier)");
            return path;
        }

        if (!ForgePresets.TryGet(DefaultPreset, out var shape))
        {
            throw new InvalidOperationException($"the forge has no preset {DefaultPreset}");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Console.Error.WriteLine($"[bench-chat] forging {DefaultPreset} q4_0 into {path} ...");
        var watch = Stopwatch.StartNew();
        var options = new ForgeOptions(shape, ForgeWeightType.Q4_0) { Seed = 1, Name = $"{DefaultPreset}-forged-q4_0" };
        var result = ModelForge.Forge(options, path, progress: null, cancellation);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[bench-chat] forged {result.FileBytes / 1048576.0:F1} MiB in {watch.Elapsed.TotalSeconds:F1} s"));
        return path;
    }
}
