namespace ModelRouter.Runtime.Forge;

/// <summary>
/// Shapes of real released models (from their published configs), so forged files have realistic tensor
/// sizes for swap and throughput benchmarks, plus <c>tiny</c> for fast tests. Each carries its release's instruct
/// chat template: the family's (<see cref="ForgeChatTemplates.ForArchitecture"/>) unless the shape names another.
/// </summary>
public static class ForgePresets
{
    private static readonly Dictionary<string, ModelShape> Shapes = new(StringComparer.OrdinalIgnoreCase)
    {
        // Two blocks of width 64: the vocabulary dominates its size; small enough for unit tests.
        ["tiny"] = new(ForgeArchitecture.Llama, Layers: 2, Width: 64, FeedForward: 128, Heads: 4, KvHeads: 2, ContextLength: 512),
        ["qwen2.5-0.5b"] = new(ForgeArchitecture.Qwen2, 24, 896, 4864, 14, 2, 32768) { RopeTheta = 1_000_000f, RmsNormEpsilon = 1e-6f, TiedEmbeddings = true },
        ["qwen2.5-1.5b"] = new(ForgeArchitecture.Qwen2, 28, 1536, 8960, 12, 2, 32768) { RopeTheta = 1_000_000f, RmsNormEpsilon = 1e-6f, TiedEmbeddings = true },
        ["qwen2.5-7b"] = new(ForgeArchitecture.Qwen2, 28, 3584, 18944, 28, 4, 32768) { RopeTheta = 1_000_000f, RmsNormEpsilon = 1e-6f },
        ["llama-3.2-1b"] = new(ForgeArchitecture.Llama, 16, 2048, 8192, 32, 8, 131072) { RopeTheta = 500_000f, TiedEmbeddings = true },
        ["llama-3.2-3b"] = new(ForgeArchitecture.Llama, 28, 3072, 8192, 24, 8, 131072) { RopeTheta = 500_000f, TiedEmbeddings = true },
        ["llama-3.1-8b"] = new(ForgeArchitecture.Llama, 32, 4096, 14336, 32, 8, 131072) { RopeTheta = 500_000f, ChatTemplate = ForgeChatTemplates.Llama31Instruct },
    };

    /// <summary>Preset names, in a stable order for help and error messages.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Shapes.Keys.Order(StringComparer.Ordinal)];

    /// <summary>Looks up a preset by name (case-insensitive).</summary>
    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ModelShape? shape) =>
        Shapes.TryGetValue(name, out shape);
}
