namespace ModelRouter.Runtime.Forge;

/// <summary>What to forge: a shape, a weight type, a seed and the tokenizer to copy.</summary>
/// <param name="Shape">Hyperparameters (see <see cref="ForgePresets"/>).</param>
/// <param name="WeightType">Storage type of the matrices.</param>
public sealed record ForgeOptions(ModelShape Shape, ForgeWeightType WeightType)
{
    /// <summary>Seed of the weights: the same options and seed always give the same bytes.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>
    /// A GGUF whose <c>tokenizer.*</c> metadata is copied. Null picks the family's vocabulary from the pinned
    /// llama.cpp source (see <see cref="VocabLocator"/>).
    /// </summary>
    public string? VocabPath { get; init; }

    /// <summary>Written as <c>general.name</c>; defaults to a name built from the architecture and type.</summary>
    public string? Name { get; init; }
}
