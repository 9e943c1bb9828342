using System.Numerics.Tensors;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Encoders;

/// <summary>What <see cref="EncoderHeadTrainer"/> does.</summary>
public sealed record EncoderHeadOptions
{
    public int Seed { get; init; } = 1;

    /// <summary>
    /// Examples embedded per label at most (stratified, seeded). Embedding costs milliseconds per prompt, so the full
    /// default inputs (~19,000 rows) would take the better part of an hour on two busy cores; a logistic head over 384
    /// dims needs far fewer.
    /// </summary>
    public int PerLabel { get; init; } = 300;

    /// <summary>Tokens the encoder reads per prompt (stored in the head; serving reads the same).</summary>
    public int MaxTokens { get; init; } = 128;

    public int Threads { get; init; } = 2;

    public int Epochs { get; init; } = 300;

    public float LearningRate { get; init; } = 0.05f;

    public float L2 { get; init; } = 1e-4f;

    /// <summary>Weigh each example's loss by n / (K · n_label) (the issue measured this best on chat prompts).</summary>
    public bool ClassBalance { get; init; } = true;

    public double TargetPrecision { get; init; } = 0.9;

    public float MaxThreshold { get; init; } = 0.6f;

    public Action<string>? Log { get; init; }
}

/// <summary>
/// Trains stage 2's head: embeds a stratified sample of the training set, holds out a seeded 10 % for calibration
/// (temperature and per-route thresholds, as stage 1), fits multinomial logistic regression by full-batch Adam on the
/// rest, then refits on everything for the same epochs.
/// </summary>
public static class EncoderHeadTrainer
{
    public static EncoderHead Train(TrainingSet data, SentenceEncoder encoder, EncoderHeadOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(options);
        var random = new Random(options.Seed);
        var sample = data.Examples.GroupBy(e => e.Label).OrderBy(g => g.Key)
            .SelectMany(g => g.OrderBy(_ => random.Next()).Take(options.PerLabel)).ToList();
        var d = encoder.Dimensions;
        options.Log?.Invoke($"stage 2: embedding {sample.Count} examples (≤ {options.PerLabel} per label, {options.MaxTokens} tokens)");
        var embeddings = Embed(encoder, sample.Select(e => e.Text).ToList(), options.Log);
        var gold = sample.Select(e => e.Label).ToArray();

        var order = Enumerable.Range(0, sample.Count).OrderBy(_ => random.Next()).ToArray();
        var heldOut = order.Where((_, i) => i % 10 == 0).ToArray();
        var fit = order.Where((_, i) => i % 10 != 0).ToArray();
        var k = data.Labels.Count;
        var (weights, bias) = Fit(embeddings, gold, fit, k, d, options);
        var logits = heldOut.Select(i => Logits(weights, bias, embeddings.AsSpan(i * d, d), k)).ToList();
        var heldGold = heldOut.Select(i => gold[i]).ToList();
        var temperature = Calibration.FitTemperature(logits, heldGold);
        var predicted = new List<int>();
        var confidence = new List<float>();
        foreach (var l in logits)
        {
            var p = l.Select(v => v / temperature).ToArray();
            TensorPrimitives.SoftMax(p, p);
            var best = TensorPrimitives.IndexOfMax(p);
            predicted.Add(best);
            confidence.Add(p[best]);
        }

        var accuracy = predicted.Where((p, i) => p == heldGold[i]).Count() / (double)Math.Max(1, predicted.Count);
        var thresholds = Calibration.Thresholds(k, predicted, confidence, heldGold, options.TargetPrecision, options.MaxThreshold);
        options.Log?.Invoke($"stage 2: held-out accuracy {accuracy:F3}, temperature {temperature:F3}; refitting on all {sample.Count}");
        (weights, bias) = Fit(embeddings, gold, Enumerable.Range(0, sample.Count).ToArray(), k, d, options);
        return new EncoderHead(PackagedModel.EncoderId, options.MaxTokens, data.Labels, weights, bias, thresholds, temperature);
    }

    /// <summary>Embeds texts in batches of similar length (padding is the cost of batching).</summary>
    public static float[] Embed(SentenceEncoder encoder, IReadOnlyList<string> texts, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(texts);
        const int Batch = 16;
        var d = encoder.Dimensions;
        var result = new float[texts.Count * d];
        var byLength = Enumerable.Range(0, texts.Count).OrderBy(i => texts[i].Length).ToArray();
        var rows = new float[Batch * d];
        for (var start = 0; start < byLength.Length; start += Batch)
        {
            var ids = byLength.Skip(start).Take(Batch).ToArray();
            encoder.EncodeBatch(ids.Select(i => texts[i]).ToList(), rows);
            for (var j = 0; j < ids.Length; j++)
            {
                rows.AsSpan(j * d, d).CopyTo(result.AsSpan(ids[j] * d, d));
            }

            if (log is not null && (start / Batch) % 25 == 24)
            {
                log($"stage 2: embedded {start + ids.Length} of {texts.Count}");
            }
        }

        return result;
    }

    internal static float[] Logits(float[] weights, float[] bias, ReadOnlySpan<float> x, int k)
    {
        var d = x.Length;
        var logits = new float[k];
        for (var c = 0; c < k; c++)
        {
            logits[c] = TensorPrimitives.Dot(weights.AsSpan(c * d, d), x) + bias[c];
        }

        return logits;
    }

    private static (float[] Weights, float[] Bias) Fit(float[] x, int[] gold, int[] rows, int k, int d, EncoderHeadOptions options)
    {
        var weights = new float[k * d];
        var bias = new float[k];
        var counts = new int[k];
        foreach (var i in rows)
        {
            counts[gold[i]]++;
        }

        var classWeight = counts.Select(c => options.ClassBalance && c > 0 ? rows.Length / (float)(k * c) : 1f).ToArray();
        var gw = new float[k * d];
        var gb = new float[k];
        var (mw, vw, mb, vb) = (new float[k * d], new float[k * d], new float[k], new float[k]);
        const float Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = 1e-8f;
        var p = new float[k];
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            Array.Clear(gw);
            Array.Clear(gb);
            foreach (var i in rows)
            {
                var xi = x.AsSpan(i * d, d);
                for (var c = 0; c < k; c++)
                {
                    p[c] = TensorPrimitives.Dot(weights.AsSpan(c * d, d), xi) + bias[c];
                }

                TensorPrimitives.SoftMax(p, p);
                var w = classWeight[gold[i]] / rows.Length;
                for (var c = 0; c < k; c++)
                {
                    var g = (p[c] - (c == gold[i] ? 1f : 0f)) * w;
                    TensorPrimitives.MultiplyAdd(xi, g, gw.AsSpan(c * d, d), gw.AsSpan(c * d, d));
                    gb[c] += g;
                }
            }

            TensorPrimitives.MultiplyAdd(weights, options.L2, gw, gw);
            var correction1 = 1 - MathF.Pow(Beta1, epoch);
            var correction2 = 1 - MathF.Pow(Beta2, epoch);
            Adam(weights, gw, mw, vw);
            Adam(bias, gb, mb, vb);

            void Adam(float[] theta, float[] grad, float[] m, float[] v)
            {
                for (var j = 0; j < theta.Length; j++)
                {
                    m[j] = (Beta1 * m[j]) + ((1 - Beta1) * grad[j]);
                    v[j] = (Beta2 * v[j]) + ((1 - Beta2) * grad[j] * grad[j]);
                    theta[j] -= options.LearningRate * (m[j] / correction1) / (MathF.Sqrt(v[j] / correction2) + Epsilon);
                }
            }
        }

        return (weights, bias);
    }
}
