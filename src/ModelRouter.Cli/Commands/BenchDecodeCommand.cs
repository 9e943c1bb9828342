using System.CommandLine;
using ModelRouter.Cli.Benchmarks;
using ModelRouter.Runtime;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter bench-decode`: prompt (pp) and decode (tg) tokens/s through our API against llama.cpp's own
/// llama-bench on the same model, threads and backend, in one run; the table goes to stdout, progress to stderr.
/// </summary>
internal static class BenchDecodeCommand
{
    private const int Failure = 1;
    private const int UsageError = 2;

    public static Command Create()
    {
        var models = new Option<string[]>("--model") { Description = "GGUF model to measure (repeatable).", Required = true, AllowMultipleArgumentsPerToken = false };
        var threads = new Option<int>("--threads") { Description = "CPU threads for both sides.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt tokens of the pp test (llama-bench -p).", DefaultValueFactory = _ => 512 };
        var generated = new Option<int>("--gen-tokens") { Description = "Tokens of the tg test (llama-bench -n).", DefaultValueFactory = _ => 128 };
        var repetitions = new Option<int>("--repetitions") { Description = "Repetitions of each test (llama-bench -r).", DefaultValueFactory = _ => 5 };
        var rounds = new Option<int>("--rounds") { Description = "Alternate llama-bench and ours this many times and pool the samples.", DefaultValueFactory = _ => 1 };
        var gpuLayers = new Option<int?>("--gpu-layers") { Description = "Layers on the GPU for both sides (llama-bench -ngl); default: each side's default." };
        var llamaBench = new Option<string?>("--llama-bench") { Description = "llama-bench executable (default: artifacts/peers/<cpu|cuda>/llama-bench, built by ./build.sh peers)." };
        var noGreedy = new Option<bool>("--no-greedy") { Description = "Skip the extra row that generates through the generator with greedy sampling." };
        var noInProcess = new Option<bool>("--no-in-process") { Description = "Skip the extra row that alternates our tg with llama.cpp's calls made directly in this process." };
        var csv = new Option<string?>("--csv") { Description = "Also write the table as CSV to this file." };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the table as markdown to this file." };

        var command = new Command("bench-decode", "Measure prompt and decode tokens/s through our API against llama.cpp's llama-bench on the same model, threads and backend.")
        {
            models, threads, prompt, generated, repetitions, rounds, gpuLayers, llamaBench, noGreedy, noInProcess, csv, markdown,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var settings = new BenchDecodeSettings
            {
                Threads = parse.GetValue(threads),
                PromptTokens = parse.GetValue(prompt),
                GeneratedTokens = parse.GetValue(generated),
                Repetitions = parse.GetValue(repetitions),
                Rounds = parse.GetValue(rounds),
                GpuLayers = parse.GetValue(gpuLayers),
                IncludeGreedy = !parse.GetValue(noGreedy),
                IncludeInProcess = !parse.GetValue(noInProcess),
            };
            return Task.FromResult(Run(parse.GetValue(models) ?? [], settings, parse.GetValue(llamaBench), parse.GetValue(csv), parse.GetValue(markdown), cancellationToken));
        });
        return command;
    }

    private static int Run(string[] models, BenchDecodeSettings settings, string? llamaBenchPath, string? csvPath, string? markdownPath, CancellationToken cancellation)
    {
        try
        {
            settings.Validate();
            foreach (var model in models)
            {
                if (!File.Exists(model))
                {
                    Console.Error.WriteLine($"error: model file '{model}' does not exist.");
                    return UsageError;
                }
            }

            var info = NativeRuntime.EnsureInitialized();
            var flavor = info.CompiledBackends.Contains("cuda") ? "cuda" : "cpu";
            var peer = llamaBenchPath is null ? LlamaBenchRunner.Locate(flavor) : new LlamaBenchRunner(llamaBenchPath);
            var loadBefore = LoadAverage.Read();
            Console.Error.WriteLine($"bench-decode: llama-bench {peer.ExecutablePath}; our libraries {info.LibraryDirectory} (llama.cpp {info.LlamaCommit}); " +
                                    $"threads {settings.Threads}, pp{settings.PromptTokens}, tg{settings.GeneratedTokens}, {settings.Repetitions} repetitions x {settings.Rounds} round(s); load average {loadBefore}");
            var rows = new BenchDecodeRunner(peer, settings, Console.Error).Run(models, cancellation);
            var loadAfter = LoadAverage.Read();

            Console.Out.Write(BenchDecodeReport.Text(rows));
            Console.Out.WriteLine($"load average (1/5/15 min): {loadBefore} before, {loadAfter} after; {Environment.ProcessorCount} logical cores");
            if (csvPath is not null)
            {
                File.WriteAllText(csvPath, BenchDecodeReport.Csv(rows));
            }

            if (markdownPath is not null)
            {
                File.WriteAllText(markdownPath, BenchDecodeReport.Markdown(rows));
            }

            return 0;
        }
        catch (Exception ex) when (ex is InvalidModelFileException or ModelLoadException or InferenceException or FileNotFoundException
                                       or InvalidOperationException or IOException or UnauthorizedAccessException or ArgumentException
                                       or OperationCanceledException or System.ComponentModel.Win32Exception
                                       or ModelRouter.Interop.NativeLibraryLoadException)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return ex is ArgumentException ? UsageError : Failure;
        }
    }
}
