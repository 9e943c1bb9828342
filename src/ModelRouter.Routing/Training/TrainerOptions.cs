using ModelRouter.Routing.Embeddings;
using ModelRouter.Routing.Features;

namespace ModelRouter.Routing.Training;

/// <summary>How <see cref="RouterTrainer"/> trains. The defaults are the settings chosen on a held-out split of train.jsonl.</summary>
public sealed record TrainerOptions
{
    /// <summary>Seeds the held-out split and the example order: the same data and seed give the same file, byte for byte.</summary>
    public int Seed { get; init; } = 1;

    public FeatureSettings Features { get; init; } = new();

    /// <summary>
    /// Share of training examples that also get one chat-style variant (<see cref="Augmentation"/>); 0 turns it off.
    /// Variants are made for the fit examples only, never for the held-out split.
    /// </summary>
    public double AugmentRate { get; init; } = 0.5;

    /// <summary>Upper bound on passes over the data; the pass count is chosen by held-out macro-F1.</summary>
    public int MaxEpochs { get; init; } = 40;

    /// <summary>Epochs without a held-out improvement before stopping.</summary>
    public int Patience { get; init; } = 6;

    /// <summary>AdaGrad base step.</summary>
    public float LearningRate { get; init; } = 0.05f;

    /// <summary>L2 penalty on every weight touched by an update.</summary>
    public float L2 { get; init; } = 3e-4f;

    /// <summary>Fraction of each label's examples held out to choose the epoch count and fit calibration.</summary>
    public double HoldoutFraction { get; init; } = 0.1;

    /// <summary>
    /// Weight each label's loss by n / (K * n_label). Off by default: with the bias offsets of <see cref="BiasFolds"/>
    /// tuned for macro-F1, unweighted training measured equal or better in cross-validation.
    /// </summary>
    public bool ClassBalanced { get; init; }

    /// <summary>Use the average of the epoch-end weights instead of the last (measured no better on held-out data, so off).</summary>
    public bool Average { get; init; }

    /// <summary>
    /// Models trained side by side on differently seeded example orders and averaged into one (free at
    /// classification time: the average of linear models is one linear model).
    /// </summary>
    public int Ensemble { get; init; } = 1;

    /// <summary>
    /// When 2 or more: per-label bias offsets maximising macro-F1 on out-of-fold predictions of this many folds of the
    /// fit examples (never the held-out split) are added to the bias. 0: none.
    /// </summary>
    public int BiasFolds { get; init; } = 5;

    /// <summary>Grid step of the bias offsets.</summary>
    public float BiasStep { get; init; } = 0.1f;

    /// <summary>Largest absolute bias offset.</summary>
    public float BiasRange { get; init; } = 1.5f;

    /// <summary>Target mass spread evenly over all labels (label smoothing).</summary>
    public float LabelSmoothing { get; init; } = 0.1f;

    /// <summary>Linearly decay the step to zero over the epochs.</summary>
    public bool LearningRateDecay { get; init; }

    /// <summary>After choosing the epoch count, train again on all examples (held-out ones included).</summary>
    public bool Refit { get; init; } = true;

    /// <summary>
    /// Per-label thresholds are set so that held-out decisions above them reach this precision (capped at
    /// <see cref="MaxThreshold"/>); 0 disables unsure decisions.
    /// </summary>
    public double TargetPrecision { get; init; } = 0.9;

    /// <summary>Highest threshold the precision target may set.</summary>
    public float MaxThreshold { get; init; } = 0.6f;

    /// <summary>Explicit per-label thresholds that override the computed ones.</summary>
    public IReadOnlyDictionary<string, float>? Thresholds { get; init; }

    /// <summary>Word vectors to pool (copied into the classifier file); null for none (or when <see cref="Gguf"/> is set).</summary>
    public WordVectorFile? WordVectors { get; init; }

    /// <summary>The most frequent word vectors copied besides every word of the training data.</summary>
    public int WordVectorTopWords { get; init; } = 40000;

    /// <summary>A GGUF model whose token embeddings to pool instead of word vectors.</summary>
    public GgufEmbeddingSource? Gguf { get; init; }

    /// <summary>Progress lines (epochs, held-out figures).</summary>
    public Action<string>? Log { get; init; }
}
