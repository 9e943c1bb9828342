using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ModelRouter.Runtime;
using ModelRouter.Runtime.Forge;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter forge`: writes a synthetic model llama.cpp can run (real tokenizer, a real family's layout,
/// seeded random weights), for tests and benchmarks. Progress goes to stderr, the written path to stdout.
/// </summary>
internal static class ForgeCommand
{
    private const int UsageError = 2;
    private const int Failure = 1;

    public static Command Create()
    {
        var preset = new Option<string?>("--preset") { Description = "Shape to imitate: " + string.Join(", ", ForgePresets.Names) + "." };
        var type = new Option<string>("--type") { Description = "Weight type: q4_0, q8_0 or f16.", Required = true };
        var output = new Option<string>("--out") { Description = "Path of the GGUF file to write.", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the weights (same seed, same bytes).", DefaultValueFactory = _ => 1 };
        var vocab = new Option<string?>("--vocab") { Description = "GGUF whose tokenizer.* metadata is copied (default: the family's vocabulary from the pinned llama.cpp source)." };
        var arch = new Option<string?>("--arch") { Description = "Override the architecture: llama or qwen2." };
        var layers = new Option<int?>("--layers") { Description = "Override the number of blocks." };
        var width = new Option<int?>("--width") { Description = "Override the hidden size." };
        var ffn = new Option<int?>("--ffn") { Description = "Override the FFN inner size." };
        var heads = new Option<int?>("--heads") { Description = "Override the attention head count." };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "Override the key/value head count." };
        var context = new Option<int?>("--context") { Description = "Override the training context length." };

        var command = new Command("forge", "Write a synthetic GGUF model (random weights, real tokenizer) that llama.cpp loads and runs.")
        {
            preset, type, output, seed, vocab, arch, layers, width, ffn, heads, kvHeads, context,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var overrides = new ShapeOverrides(
                parse.GetValue(arch), parse.GetValue(layers), parse.GetValue(width), parse.GetValue(ffn),
                parse.GetValue(heads), parse.GetValue(kvHeads), parse.GetValue(context));
            return Task.FromResult(Run(
                parse.GetValue(preset), parse.GetValue(type)!, parse.GetValue(output)!, parse.GetValue(seed), parse.GetValue(vocab), overrides, cancellationToken));
        });
        return command;
    }

    private static int Run(string? presetName, string typeName, string output, ulong seed, string? vocab, ShapeOverrides overrides, CancellationToken cancellationToken)
    {
        if (!ForgeWeightTypes.TryParse(typeName, out var weightType))
        {
            return Usage($"unknown weight type '{typeName}'; use one of: {string.Join(", ", ForgeWeightTypes.All.Select(t => t.ToCliName()))}");
        }

        ModelShape? shape;
        if (presetName is null)
        {
            if (!overrides.Any)
            {
                return Usage($"choose a shape with --preset (one of: {string.Join(", ", ForgePresets.Names)}) or give --layers, --width, ... (they start from 'tiny')");
            }

            ForgePresets.TryGet("tiny", out shape);
        }
        else if (!ForgePresets.TryGet(presetName, out shape))
        {
            return Usage($"unknown preset '{presetName}'; presets: {string.Join(", ", ForgePresets.Names)}");
        }

        if (!overrides.TryApply(shape!, out var finalShape, out var overrideError))
        {
            return Usage(overrideError);
        }

        if (finalShape.FindProblem(weightType) is { } problem)
        {
            return Usage("cannot forge this shape: " + problem);
        }

        var options = new ForgeOptions(finalShape, weightType) { Seed = seed, VocabPath = vocab, Name = presetName is null || overrides.Any ? null : $"{presetName}-forged-{weightType.ToCliName()}" };
        try
        {
            // Resolved first so that "no vocabulary" is never confused with "cannot write the output".
            options = options with { VocabPath = ModelForge.ResolveVocab(options) };
        }
        catch (FileNotFoundException ex)
        {
            return Fail(ex.Message);
        }

        var watch = Stopwatch.StartNew();
        try
        {
            var result = ModelForge.Forge(options, output, new StderrProgress(), cancellationToken);
            Console.Error.WriteLine(string.Format(
                CultureInfo.InvariantCulture,
                "forge: wrote {0} ({1:F1} MiB, {2} tensors, {3:N0} parameters, vocabulary {4}) in {5:F1} s",
                result.Path, result.FileBytes / 1048576.0, result.TensorCount, result.ParameterCount, result.VocabularySize, watch.Elapsed.TotalSeconds));
            Console.Out.WriteLine(result.Path);
            return 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("forge: cancelled; no file was written");
            return 130;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Fail($"cannot write {output}: {ex.Message}");
        }
        catch (InvalidModelFileException ex)
        {
            return Fail("the vocabulary is unusable: " + ex.Message);
        }
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine("error: " + message);
        return UsageError;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("error: " + message);
        return Failure;
    }

    /// <summary>Shape options given on the command line, applied over the preset.</summary>
    private sealed record ShapeOverrides(string? Arch, int? Layers, int? Width, int? Ffn, int? Heads, int? KvHeads, int? Context)
    {
        public bool Any => Arch is not null || Layers is not null || Width is not null || Ffn is not null || Heads is not null || KvHeads is not null || Context is not null;

        public bool TryApply(ModelShape shape, out ModelShape result, out string error)
        {
            result = shape;
            error = string.Empty;
            var architecture = shape.Architecture;
            if (Arch is not null && !ForgeArchitectureNames.TryParse(Arch, out architecture))
            {
                error = $"unknown architecture '{Arch}'; use llama or qwen2";
                return false;
            }

            result = shape with
            {
                Architecture = architecture,
                Layers = Layers ?? shape.Layers,
                Width = Width ?? shape.Width,
                FeedForward = Ffn ?? shape.FeedForward,
                Heads = Heads ?? shape.Heads,
                KvHeads = KvHeads ?? shape.KvHeads,
                ContextLength = Context ?? shape.ContextLength,
            };
            return true;
        }
    }

    /// <summary>
    /// Progress on stderr, reported inline (Progress&lt;T&gt; would post to the thread pool and reorder lines):
    /// a rewritten line on a terminal, a line per 10% when redirected.
    /// </summary>
    private sealed class StderrProgress : IProgress<ForgeProgress>
    {
        private readonly bool interactive = !Console.IsErrorRedirected;
        private int lastPercent = -1;

        public void Report(ForgeProgress value)
        {
            var percent = (int)(value.Fraction * 100);
            if (percent == lastPercent || (!interactive && percent / 10 == lastPercent / 10 && percent != 100))
            {
                return;
            }

            lastPercent = percent;
            var line = string.Format(
                CultureInfo.InvariantCulture,
                "forge: {0,3}% {1,9:F1} / {2:F1} MiB {3}",
                percent, value.BytesWritten / 1048576.0, value.TotalBytes / 1048576.0, value.CurrentTensor ?? "done");
            if (interactive)
            {
                Console.Error.Write("\r" + line.PadRight(78));
                if (value.CurrentTensor is null)
                {
                    Console.Error.WriteLine();
                }
            }
            else
            {
                Console.Error.WriteLine(line);
            }
        }
    }
}
