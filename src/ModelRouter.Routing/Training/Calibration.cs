using ModelRouter.Routing.Classification;

namespace ModelRouter.Routing.Training;

/// <summary>
/// Temperature scaling (one scalar dividing the logits, fitted by held-out log-likelihood; it changes confidences,
/// never the winner) and per-label thresholds chosen for a target precision of the decisions above them.
/// </summary>
public static class Calibration
{
    /// <summary>The temperature, from 0.05 to 20 on a log grid, that minimises the held-out negative log-likelihood.</summary>
    public static float FitTemperature(IReadOnlyList<float[]> logits, IReadOnlyList<int> gold)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(gold);
        if (logits.Count == 0)
        {
            return 1f;
        }

        var best = 1f;
        var bestLoss = double.MaxValue;
        const int steps = 240;
        for (var s = 0; s <= steps; s++)
        {
            var t = (float)Math.Exp(Math.Log(0.05) + ((Math.Log(20) - Math.Log(0.05)) * s / steps));
            var loss = NegativeLogLikelihood(logits, gold, t);
            if (loss < bestLoss)
            {
                bestLoss = loss;
                best = t;
            }
        }

        return best;
    }

    public static double NegativeLogLikelihood(IReadOnlyList<float[]> logits, IReadOnlyList<int> gold, float temperature)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(gold);
        double total = 0;
        Span<float> p = stackalloc float[ClassifierFormat.MaxLabels];
        for (var i = 0; i < logits.Count; i++)
        {
            var row = p[..logits[i].Length];
            logits[i].CopyTo(row);
            LinearHead.Softmax(row, temperature);
            total -= Math.Log(Math.Max(row[gold[i]], 1e-12f));
        }

        return total / Math.Max(1, logits.Count);
    }

    /// <summary>
    /// Per label, the lowest threshold t such that the held-out decisions for that label with confidence above t
    /// are correct at <paramref name="targetPrecision"/> or better; capped at <paramref name="maxThreshold"/> (also
    /// the value for a label whose decisions never reach the target).
    /// </summary>
    public static float[] Thresholds(int labels, IReadOnlyList<int> predicted, IReadOnlyList<float> confidence, IReadOnlyList<int> gold, double targetPrecision, float maxThreshold)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(confidence);
        ArgumentNullException.ThrowIfNull(gold);
        var thresholds = new float[labels];
        if (targetPrecision <= 0)
        {
            return thresholds;
        }

        for (var k = 0; k < labels; k++)
        {
            var decisions = Enumerable.Range(0, predicted.Count)
                .Where(i => predicted[i] == k)
                .Select(i => (Confidence: confidence[i], Correct: gold[i] == k))
                .OrderByDescending(d => d.Confidence)
                .ToArray();
            var threshold = maxThreshold;
            var correct = 0;
            for (var m = 0; m < decisions.Length; m++)
            {
                correct += decisions[m].Correct ? 1 : 0;
                if ((double)correct / (m + 1) >= targetPrecision)
                {
                    threshold = Math.Min(maxThreshold, MathF.BitDecrement(decisions[m].Confidence)); // sure means strictly above
                }
            }

            thresholds[k] = threshold;
        }

        return thresholds;
    }
    /// <summary>
    /// Per-label offsets added to <paramref name="logits"/> that maximise macro-F1 of the arg-max against
    /// <paramref name="gold"/>: coordinate ascent over the grid -range..range in steps of <paramref name="step"/>, a
    /// change kept only when it strictly improves macro-F1 (at most 6 passes); returned with their mean removed
    /// (which changes no arg-max).
    /// </summary>
    public static float[] MacroF1Offsets(IReadOnlyList<string> labels, IReadOnlyList<float[]> logits, IReadOnlyList<int> gold, float step, float range)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(gold);
        var k = labels.Count;
        var offsets = new float[k];
        var steps = (int)MathF.Round(range / step);
        var best = MacroF1(logits, gold, offsets, k);
        for (var pass = 0; pass < 6; pass++)
        {
            var improved = false;
            for (var label = 0; label < k; label++)
            {
                var keep = offsets[label];
                var bestValue = keep;
                for (var s = -steps; s <= steps; s++)
                {
                    offsets[label] = s * step;
                    var f1 = MacroF1(logits, gold, offsets, k);
                    if (f1 > best + 1e-9)
                    {
                        best = f1;
                        bestValue = offsets[label];
                        improved = true;
                    }
                }

                offsets[label] = bestValue;
            }

            if (!improved)
            {
                break;
            }
        }

        var mean = offsets.Average();
        for (var i = 0; i < k; i++)
        {
            offsets[i] -= mean;
        }

        return offsets;
    }

    private static double MacroF1(IReadOnlyList<float[]> logits, IReadOnlyList<int> gold, float[] offsets, int k)
    {
        Span<int> tp = stackalloc int[k];
        Span<int> predictedCount = stackalloc int[k];
        Span<int> goldCount = stackalloc int[k];
        tp.Clear();
        predictedCount.Clear();
        goldCount.Clear();
        for (var i = 0; i < logits.Count; i++)
        {
            var row = logits[i];
            var arg = 0;
            var max = row[0] + offsets[0];
            for (var j = 1; j < k; j++)
            {
                var v = row[j] + offsets[j];
                if (v > max)
                {
                    max = v;
                    arg = j;
                }
            }

            predictedCount[arg]++;
            goldCount[gold[i]]++;
            if (arg == gold[i])
            {
                tp[arg]++;
            }
        }

        var sum = 0.0;
        var present = 0;
        for (var j = 0; j < k; j++)
        {
            if (goldCount[j] == 0)
            {
                continue;
            }

            present++;
            sum += tp[j] == 0 ? 0 : 2.0 * tp[j] / (predictedCount[j] + goldCount[j]);
        }

        return present == 0 ? 0 : sum / present;
    }
}
