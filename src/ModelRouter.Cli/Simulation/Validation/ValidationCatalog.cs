using ModelRouter.Cli.Demo;
using ModelRouter.Runtime.Forge;
using ModelRouter.Server.Options;

namespace ModelRouter.Cli.Simulation.Validation;

/// <summary>
/// The models the simulator is checked against: three forged Llama-shaped models of about 10, 30 and 70 MB (random
/// weights, real tokenizer), big enough on this CPU that prefill, decode and swaps each cost milliseconds, small enough
/// that a whole replay takes minutes. Same seed, same bytes: a second run reuses the files.
/// </summary>
internal static class ValidationCatalog
{
    public static readonly DemoCatalog.Entry[] Models =
    [
        new("val-small", ForgeArchitecture.Llama, 4, 256, 768, 4, 2, ForgeWeightType.Q4_0, "small", "realtime", 0, ["chat"]),
        new("val-medium", ForgeArchitecture.Llama, 8, 512, 1536, 8, 4, ForgeWeightType.Q4_0, "medium", "interactive", 0, ["chat"]),
        new("val-large", ForgeArchitecture.Llama, 12, 768, 2048, 8, 4, ForgeWeightType.Q4_0, "large", "batch", 0, ["chat"]),
    ];

    /// <summary>The scheduler of both the live server and the simulation: 4 sequences of 512 cells per model.</summary>
    public static SchedulerSettings Scheduler(int threads) => new()
    {
        MaxBatchPerModel = 4,
        ContextPerSequence = 512,
        Threads = threads,
        EmbeddingTokensPerInput = 128,
        EmbeddingInputsPerDecode = 4,
        MinResidencyMs = 250,
        MaxWaitMs = 2000,
        FairShareTokens = 256,
    };

    /// <summary>A prompt of about <paramref name="tokens"/> tokens (one per word in the Llama vocabulary, plus BOS).</summary>
    public static string Prompt(int tokens) => string.Join(' ', Enumerable.Repeat("hello", Math.Max(1, tokens - 1)));

    public static IReadOnlyDictionary<string, string> Forge(string directory, TextWriter progress, CancellationToken cancellation)
    {
        Directory.CreateDirectory(directory);
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var model in Models)
        {
            var path = Path.Combine(directory, model.Name + ".gguf");
            paths[model.Name] = path;
            if (!File.Exists(path))
            {
                progress.WriteLine($"[validate] forging {model.Name} ({model.Layers} layers, width {model.Width}, {model.Type}; random weights)");
                DemoCatalog.ForgeOne(model, path, "random-weight model for validate-simulator", cancellation);
            }
        }

        return paths;
    }
}
