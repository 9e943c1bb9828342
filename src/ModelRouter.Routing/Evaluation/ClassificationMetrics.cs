namespace ModelRouter.Routing.Evaluation;

/// <summary>Accuracy, macro-F1 (the unweighted mean of per-label F1), per-label figures and the confusion matrix.</summary>
public sealed class ClassificationMetrics
{
    private ClassificationMetrics(IReadOnlyList<string> labels, int[,] confusion, int count)
    {
        Labels = labels;
        Confusion = confusion;
        Count = count;
        var k = labels.Count;
        var perLabel = new LabelMetrics[k];
        var correct = 0;
        for (var i = 0; i < k; i++)
        {
            correct += confusion[i, i];
            int gold = 0, predicted = 0;
            for (var j = 0; j < k; j++)
            {
                gold += confusion[i, j];
                predicted += confusion[j, i];
            }

            var precision = predicted == 0 ? 0 : (double)confusion[i, i] / predicted;
            var recall = gold == 0 ? 0 : (double)confusion[i, i] / gold;
            var f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            perLabel[i] = new LabelMetrics(labels[i], precision, recall, f1, gold);
        }

        PerLabel = perLabel;
        Accuracy = count == 0 ? 0 : (double)correct / count;
        var present = perLabel.Where(m => m.Support > 0).ToArray();
        MacroF1 = present.Length == 0 ? 0 : present.Average(m => m.F1);
    }

    public IReadOnlyList<string> Labels { get; }

    /// <summary>[gold, predicted] counts.</summary>
    public int[,] Confusion { get; }

    public int Count { get; }

    public double Accuracy { get; }

    /// <summary>Mean F1 over the labels that have gold examples.</summary>
    public double MacroF1 { get; }

    public IReadOnlyList<LabelMetrics> PerLabel { get; }

    public static ClassificationMetrics Compute(IReadOnlyList<string> labels, ReadOnlySpan<int> gold, ReadOnlySpan<int> predicted)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (gold.Length != predicted.Length)
        {
            throw new ArgumentException("gold and predicted differ in length.", nameof(predicted));
        }

        var confusion = new int[labels.Count, labels.Count];
        for (var i = 0; i < gold.Length; i++)
        {
            confusion[gold[i], predicted[i]]++;
        }

        return new ClassificationMetrics(labels, confusion, gold.Length);
    }
}
