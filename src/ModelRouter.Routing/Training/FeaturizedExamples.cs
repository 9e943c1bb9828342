using ModelRouter.Routing.Features;

namespace ModelRouter.Routing.Training;

/// <summary>Every example turned into features once, through the classifier's own <see cref="Featurizer"/>.</summary>
internal sealed class FeaturizedExamples
{
    private FeaturizedExamples(int[][] rows, float[][] dense, int[] labels)
    {
        Rows = rows;
        Dense = dense;
        Labels = labels;
    }

    public int[][] Rows { get; }

    public float[][] Dense { get; }

    public int[] Labels { get; }

    public int Count => Labels.Length;

    public static FeaturizedExamples Create(Featurizer featurizer, IReadOnlyList<LabeledText> examples)
    {
        var rows = new int[examples.Count][];
        var dense = new float[examples.Count][];
        var labels = new int[examples.Count];
        var buffer = new int[featurizer.MaxSparseFeatures];
        for (var i = 0; i < examples.Count; i++)
        {
            dense[i] = new float[featurizer.DenseLength];
            var n = featurizer.Featurize(examples[i].Text, buffer, dense[i]);
            rows[i] = buffer[..n];
            labels[i] = examples[i].Label;
        }

        return new FeaturizedExamples(rows, dense, labels);
    }

    public FeaturizedExamples Subset(IReadOnlyList<int> indices) => new(
        indices.Select(i => Rows[i]).ToArray(),
        indices.Select(i => Dense[i]).ToArray(),
        indices.Select(i => Labels[i]).ToArray());
}
