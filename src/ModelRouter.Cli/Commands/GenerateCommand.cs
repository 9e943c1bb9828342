using System.CommandLine;
using System.Globalization;
using ModelRouter.Runtime;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter generate`: loads a model and writes only the continuation of the prompt to stdout, streamed as it
/// is produced; logs, statistics and errors go to stderr.
/// </summary>
internal static class GenerateCommand
{
    private const int Failure = 1;
    private const int UsageError = 2;

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Path of the GGUF model.", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "Prompt text (BOS is added as llama.cpp's server adds it).", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => 0.8f };
        var seed = new Option<uint?>("--seed") { Description = "Sampling seed (same seed, same output)." };
        var topK = new Option<int>("--top-k") { Description = "Top-k (0 disables).", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "Top-p (1 disables).", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "Min-p (0 disables).", DefaultValueFactory = _ => 0.05f };
        var repeat = new Option<float>("--repeat-penalty") { Description = "Repetition penalty (1 disables).", DefaultValueFactory = _ => 1.0f };
        var stop = new Option<string[]>("--stop") { Description = "Stop string (repeatable); not included in the output.", AllowMultipleArgumentsPerToken = false };
        var context = new Option<int>("--context") { Description = "Context length in tokens.", DefaultValueFactory = _ => 2048 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all cores).", DefaultValueFactory = _ => 0 };
        var gpuLayers = new Option<int?>("--gpu-layers") { Description = "Layers to offload to the GPU (-1: all)." };
        var stats = new Option<bool>("--stats") { Description = "Print token counts and speed to stderr at the end." };

        var command = new Command("generate", "Generate a continuation of a prompt with one model; only the continuation goes to stdout.")
        {
            model, prompt, maxTokens, temperature, seed, topK, topP, minP, repeat, stop, context, threads, gpuLayers, stats,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var sampling = new SamplingParameters
            {
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                MinP = parse.GetValue(minP),
                RepetitionPenalty = parse.GetValue(repeat),
                Seed = parse.GetValue(seed) ?? (uint)Random.Shared.Next(),
            };
            var settings = new Settings(
                parse.GetValue(model)!, parse.GetValue(prompt)!, parse.GetValue(maxTokens), sampling, parse.GetValue(stop) ?? [],
                parse.GetValue(context), parse.GetValue(threads), parse.GetValue(gpuLayers), parse.GetValue(stats));
            return Task.FromResult(Run(settings, cancellationToken));
        });
        return command;
    }

    private static int Run(Settings settings, CancellationToken cancellation)
    {
        try
        {
            using var model = Model.Load(settings.ModelPath, new ModelLoadOptions { GpuLayers = settings.GpuLayers, Cancellation = cancellation });
            using var context = InferenceContext.Create(model, new ContextOptions { ContextLength = settings.ContextLength, Threads = settings.Threads });
            var request = new GenerationRequest(settings.Prompt) { MaxTokens = settings.MaxTokens, Sampling = settings.Sampling, StopStrings = settings.Stop };
            using var stdout = Console.OpenStandardOutput();
            var result = TextGenerator.Generate(context, request, utf8 =>
            {
                stdout.Write(utf8);
                stdout.Flush();
            }, cancellation);
            if (settings.PrintStats)
            {
                Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture,
                    "\n[{0}: prompt {1} tokens, generated {2} tokens, first token after {3:F1} ms, {4:F1} tokens/s]",
                    result.FinishReason, result.PromptTokens, result.GeneratedTokens, result.TimeToFirstToken?.TotalMilliseconds ?? 0, result.DecodeTokensPerSecond));
            }

            return result.FinishReason == FinishReason.Cancelled ? Failure : 0;
        }
        catch (Exception ex) when (ex is InvalidModelFileException or ModelLoadException or InferenceException or PromptTooLongException
                                       or ArgumentException or OperationCanceledException or ModelRouter.Interop.NativeLibraryLoadException)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return ex is ArgumentException ? UsageError : Failure;
        }
    }

    private sealed record Settings(
        string ModelPath,
        string Prompt,
        int MaxTokens,
        SamplingParameters Sampling,
        string[] Stop,
        int ContextLength,
        int Threads,
        int? GpuLayers,
        bool PrintStats);
}
