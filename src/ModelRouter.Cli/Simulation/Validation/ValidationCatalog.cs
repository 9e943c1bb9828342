using ModelRouter.Cli.Demo;
using ModelRouter.Runtime.Forge;
using ModelRouter.Server.Options;

namespace ModelRouter.Cli.Simulation.Validation;

/// <summary>
/// The models the simulator is checked against: three forged Llama-shaped models of about 90, 120 and 155 MB as loaded
/// (random weights, real tokenizer), big enough on this CPU that prefill, decode and swaps each cost milliseconds, small
/// enough that a whole replay takes minutes, and close enough in size that no two fit the budget together (see
/// <see cref="Budget"/>). Same seed, same bytes: a second run reuses the files.
/// </summary>
internal static class ValidationCatalog
{
    public static readonly DemoCatalog.Entry[] Models =
    [
        new("val-a", ForgeArchitecture.Llama, 8, 512, 1536, 8, 4, ForgeWeightType.Q4_0, "small", "realtime", 0, ["chat"]),
        new("val-b", ForgeArchitecture.Llama, 10, 640, 1792, 8, 4, ForgeWeightType.Q4_0, "medium", "interactive", 0, ["chat"]),
        new("val-c", ForgeArchitecture.Llama, 12, 768, 2048, 8, 4, ForgeWeightType.Q4_0, "large", "batch", 0, ["chat"]),
    ];

    /// <summary>
    /// One model's weights at a time: the largest plus half the smallest. On a CPU, two resident models decode at once on
    /// the same cores and slow each other down in ways the simulator's one device does not model (each step of either
    /// takes every core; the simulated device runs one step at a time), so the check keeps to what both model alike:
    /// every switch between models is a real evict and restore.
    /// </summary>
    /// <exception cref="InvalidOperationException">Two models would fit together.</exception>
    public static long Budget(IReadOnlyList<DemoFootprint> footprints)
    {
        ArgumentNullException.ThrowIfNull(footprints);
        var sizes = footprints.Select(f => f.WeightBytes).Order().ToList();
        var budget = sizes[^1] + (sizes[0] / 2);
        return sizes.Count >= 2 && sizes[0] + sizes[1] > budget ? budget
            : throw new InvalidOperationException($"validate-simulator: the two smallest models ({sizes[0]} + {sizes[1]} bytes) fit a budget of {budget} bytes together");
    }

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

    public static IReadOnlyDictionary<string, string> Forge(string directory, TextWriter progress, CancellationToken cancellation) =>
        DemoCatalog.ForgeAll(Models, directory, "[validate]", "random-weight model for validate-simulator", progress, cancellation);
}
