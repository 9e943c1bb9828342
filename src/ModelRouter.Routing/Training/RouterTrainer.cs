using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Embeddings;
using ModelRouter.Routing.Evaluation;
using ModelRouter.Routing.Features;
using ModelRouter.Routing.Text;

namespace ModelRouter.Routing.Training;

/// <summary>
/// Trains a task classifier: a seeded, stratified held-out split chooses the number of epochs (by macro-F1) and fits
/// the calibration temperature and per-label thresholds; the final model is then trained on all examples. The
/// development set is never seen here, so the figures reported on it are not tuned to it.
/// </summary>
public static class RouterTrainer
{
    public static TrainingResult Train(TrainingSet set, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(options);
        options.Features.Validate();
        if (set.Labels.Count > ClassifierFormat.MaxLabels)
        {
            throw new TrainingDataException($"{set.Labels.Count} labels; a classifier holds at most {ClassifierFormat.MaxLabels}.");
        }

        var clock = Stopwatch.StartNew();
        var log = options.Log ?? (_ => { });
        var (source, wordHashes, wordVectors) = PrepareEmbeddings(set, options, log);
        var featurizer = new Featurizer(options.Features, source);
        var originals = set.Examples.Count;
        var variants = options.AugmentRate > 0 ? Augmentation.Variants(set.Examples, options.AugmentRate, options.Seed) : [];
        var all = FeaturizedExamples.Create(featurizer, [.. set.Examples, .. variants.Select(v => v.Example)]);
        log(string.Create(CultureInfo.InvariantCulture, $"featurized {originals} examples and {variants.Count} chat-style variants ({featurizer.DenseLength} dense dims, embeddings: {source?.Description ?? "none"}) in {clock.Elapsed.TotalSeconds:F1} s"));

        // The split is over the original examples; a variant trains only when the example it came from does.
        var (fitOriginal, holdoutIndices) = StratifiedSplit(all.Labels[..originals], set.Labels.Count, options.HoldoutFraction, options.Seed);
        var inFit = new bool[originals];
        foreach (var i in fitOriginal)
        {
            inFit[i] = true;
        }

        var fitIndices = fitOriginal.Concat(Enumerable.Range(0, variants.Count).Where(v => inFit[variants[v].Origin]).Select(v => originals + v)).ToArray();
        var k = set.Labels.Count;
        var fitted = FitAndChoose(set.Labels, all, fitIndices, holdoutIndices, featurizer, options, log);
        var bestEpoch = fitted.Epochs;
        var offsets = fitted.Offsets;

        var temperature = fitted.HoldoutLogits.Length > 0 ? Calibration.FitTemperature(fitted.HoldoutLogits, fitted.HoldoutLabels) : 1f;
        var thresholds = ChooseThresholds(set.Labels, fitted.HoldoutLogits, fitted.HoldoutLabels, temperature, options);
        var bestF1 = fitted.Holdout?.MacroF1 ?? -1;
        var bestMetrics = fitted.Holdout;
        log(string.Create(CultureInfo.InvariantCulture, $"chose {bestEpoch} epochs (held-out macro-F1 {bestF1:F4}), temperature {temperature:F3}"));

        var model = fitted.Model;
        if (options.Refit && holdoutIndices.Length > 0)
        {
            model = TrainFixed(all, Enumerable.Range(0, all.Count).ToArray(), bestEpoch, k, featurizer, options);
            log($"refit on all {all.Count} examples for {bestEpoch} epochs");
        }

        for (var i = 0; i < k; i++)
        {
            model.Bias[i] += offsets[i];
        }

        var metadata = Metadata(options, source, all.Count, holdoutIndices.Length, bestEpoch, bestF1, bestMetrics?.Accuracy ?? 0, temperature);

        var classifier = new ClassifierModel
        {
            Labels = set.Labels.ToArray(),
            Features = options.Features,
            Bias = model.Bias,
            SparseWeights = model.Sparse,
            DenseHead = wordVectors.Length > 0 ? [] : model.Dense,
            Temperature = temperature,
            Thresholds = thresholds,
            EmbeddingKind = options.Gguf is not null ? EmbeddingKind.Gguf : wordVectors.Length > 0 ? EmbeddingKind.WordVectors : EmbeddingKind.None,
            EmbeddingDimensions = source?.Dimensions ?? 0,
            WordHashes = wordHashes,
            WordVectors = wordVectors.Length > 0 ? FoldWordVectors(model.Dense, wordVectors, k, source!.Dimensions) : [],
            GgufPath = options.Gguf?.FilePath,
            GgufTokenCount = options.Gguf?.TokenCount ?? 0,
            GgufFileSize = options.Gguf is null ? 0 : new FileInfo(options.Gguf.FilePath).Length,
            Metadata = metadata,
        };

        var holdoutMetrics = bestMetrics ?? ClassificationMetrics.Compute(set.Labels, [], []);
        return new TrainingResult(classifier, holdoutMetrics, bestEpoch, temperature, holdoutIndices.Length, clock.Elapsed);
    }

    /// <summary>
    /// K-fold cross-validation of the whole procedure on <paramref name="set"/>: each fold is held out in turn (choosing
    /// the epoch count and, with <see cref="TrainerOptions.BiasFolds"/>, tuning the bias offsets on the other folds
    /// only), and the out-of-fold predictions of all folds are scored together. Model selection without dev data.
    /// </summary>
    public static ClassificationMetrics CrossValidate(TrainingSet set, TrainerOptions options, int folds)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(folds, 2);
        options.Features.Validate();
        var log = options.Log ?? (_ => { });
        var (source, _, _) = PrepareEmbeddings(set, options, log);
        var featurizer = new Featurizer(options.Features, source);
        var all = FeaturizedExamples.Create(featurizer, set.Examples);
        var assignment = FoldAssignment(all.Labels, set.Labels.Count, folds, options.Seed);
        var gold = new List<int>();
        var predicted = new List<int>();
        for (var f = 0; f < folds; f++)
        {
            var fit = Enumerable.Range(0, all.Count).Where(i => assignment[i] != f).ToArray();
            var held = Enumerable.Range(0, all.Count).Where(i => assignment[i] == f).ToArray();
            var fitted = FitAndChoose(set.Labels, all, fit, held, featurizer, options, _ => { });
            gold.AddRange(fitted.HoldoutLabels);
            predicted.AddRange(fitted.HoldoutLogits.Select(ArgMax));
            log(string.Create(CultureInfo.InvariantCulture, $"fold {f + 1}/{folds}: {fitted.Epochs} epochs, macro-F1 {fitted.Holdout!.MacroF1:F4}"));
        }

        return ClassificationMetrics.Compute(set.Labels, gold.ToArray(), predicted.ToArray());
    }

    private sealed record Fitted(SoftmaxRegression Model, int Epochs, float[] Offsets, float[][] HoldoutLogits, int[] HoldoutLabels, ClassificationMetrics? Holdout);

    /// <summary>
    /// Trains on <paramref name="fitIndices"/>, choosing the epoch count by macro-F1 on <paramref name="holdoutIndices"/>,
    /// then (with <see cref="TrainerOptions.BiasFolds"/>) tunes per-label bias offsets by cross-validation inside the
    /// fit examples only; the held-out logits and metrics returned include the offsets.
    /// </summary>
    private static Fitted FitAndChoose(IReadOnlyList<string> labelNames, FeaturizedExamples all, int[] fitIndices, int[] holdoutIndices, Featurizer featurizer, TrainerOptions options, Action<string> log)
    {
        var k = labelNames.Count;
        var fit = all.Subset(fitIndices);
        var holdout = all.Subset(holdoutIndices);
        var members = NewMembers(k, featurizer, options, fit.Labels);
        var randoms = Enumerable.Range(0, members.Length).Select(m => new Random(MemberSeed(options.Seed, m))).ToArray();
        var orders = Enumerable.Range(0, members.Length).Select(_ => Enumerable.Range(0, fit.Count).ToArray()).ToArray();
        var sums = members.Select(m => (new float[m.Sparse.Length], new float[m.Dense.Length], new float[k])).ToArray();
        var bestEpoch = 0;
        var bestF1 = -1.0;
        float[][] bestLogits = [];
        var bestModel = members[0];
        for (var epoch = 1; epoch <= options.MaxEpochs; epoch++)
        {
            for (var m = 0; m < members.Length; m++)
            {
                randoms[m].Shuffle(orders[m]);
                members[m].LearningRateScale = DecayScale(options, epoch, options.MaxEpochs);
                members[m].Epoch(fit, orders[m]);
                members[m].AddToAverage(sums[m].Item1, sums[m].Item2, sums[m].Item3);
            }

            if (holdout.Count == 0)
            {
                bestEpoch = epoch;
                continue;
            }

            var candidate = Combine(members, sums, epoch, options);
            var logits = Logits(candidate, holdout, k);
            var metrics = ClassificationMetrics.Compute(labelNames, holdout.Labels, logits.Select(ArgMax).ToArray());
            log(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch,2}: held-out macro-F1 {metrics.MacroF1:F4}, accuracy {metrics.Accuracy:F4}"));
            if (metrics.MacroF1 > bestF1)
            {
                bestF1 = metrics.MacroF1;
                bestEpoch = epoch;
                bestLogits = logits;
                bestModel = candidate;
            }
            else if (epoch - bestEpoch >= options.Patience)
            {
                break;
            }
        }

        if (holdout.Count == 0)
        {
            bestModel = Combine(members, sums, bestEpoch, options);
        }

        var offsets = new float[k];
        if (options.BiasFolds >= 2)
        {
            offsets = TuneOffsets(labelNames, fit, bestEpoch, featurizer, options);
            log("bias offsets " + string.Join(", ", offsets.Select(o => o.ToString("F2", CultureInfo.InvariantCulture))));
            foreach (var row in bestLogits)
            {
                for (var i = 0; i < k; i++)
                {
                    row[i] += offsets[i];
                }
            }
        }

        var holdoutMetrics = holdout.Count == 0 ? null : ClassificationMetrics.Compute(labelNames, holdout.Labels, bestLogits.Select(ArgMax).ToArray());
        if (holdoutMetrics is not null && options.BiasFolds >= 2)
        {
            log(string.Create(CultureInfo.InvariantCulture, $"held-out macro-F1 with offsets {holdoutMetrics.MacroF1:F4} (without {bestF1:F4})"));
        }

        return new Fitted(bestModel, bestEpoch, offsets, bestLogits, holdout.Labels, holdoutMetrics);
    }

    /// <summary>Trains on <paramref name="indices"/> for a fixed number of epochs (ensemble members averaged).</summary>
    private static SoftmaxRegression TrainFixed(FeaturizedExamples all, int[] indices, int epochs, int k, Featurizer featurizer, TrainerOptions options)
    {
        var data = all.Subset(indices);
        var members = NewMembers(k, featurizer, options, data.Labels);
        var sums = members.Select(m => (new float[m.Sparse.Length], new float[m.Dense.Length], new float[k])).ToArray();
        for (var m = 0; m < members.Length; m++)
        {
            var random = new Random(MemberSeed(options.Seed, m));
            var order = Enumerable.Range(0, data.Count).ToArray();
            for (var epoch = 1; epoch <= epochs; epoch++)
            {
                random.Shuffle(order);
                members[m].LearningRateScale = DecayScale(options, epoch, epochs);
                members[m].Epoch(data, order);
                members[m].AddToAverage(sums[m].Item1, sums[m].Item2, sums[m].Item3);
            }
        }

        return Combine(members, sums, epochs, options);
    }

    /// <summary>
    /// Per-label offsets added to the logits that maximise macro-F1 over out-of-fold predictions: <see cref="TrainerOptions.BiasFolds"/>
    /// models, each trained on the other folds of <paramref name="data"/>, predict their own fold; coordinate ascent
    /// over a grid of offsets then picks the offsets (ties keep the smaller change), with the mean offset removed.
    /// </summary>
    private static float[] TuneOffsets(IReadOnlyList<string> labelNames, FeaturizedExamples data, int epochs, Featurizer featurizer, TrainerOptions options)
    {
        var k = labelNames.Count;
        var assignment = FoldAssignment(data.Labels, k, options.BiasFolds, options.Seed + 17);
        var logits = new float[data.Count][];
        for (var f = 0; f < options.BiasFolds; f++)
        {
            var train = Enumerable.Range(0, data.Count).Where(i => assignment[i] != f).ToArray();
            var model = TrainFixed(data, train, epochs, k, featurizer, options);
            var held = Enumerable.Range(0, data.Count).Where(i => assignment[i] == f).ToArray();
            var heldLogits = Logits(model, data.Subset(held), k);
            for (var j = 0; j < held.Length; j++)
            {
                logits[held[j]] = heldLogits[j];
            }
        }

        return Calibration.MacroF1Offsets(labelNames, logits, data.Labels, options.BiasStep, options.BiasRange);
    }

    /// <summary>Per label, a seeded shuffle dealt round-robin into <paramref name="folds"/> folds.</summary>
    internal static int[] FoldAssignment(int[] labels, int labelCount, int folds, int seed)
    {
        var random = new Random(seed ^ 0xF01D);
        var assignment = new int[labels.Length];
        for (var k = 0; k < labelCount; k++)
        {
            var members = Enumerable.Range(0, labels.Length).Where(i => labels[i] == k).ToArray();
            random.Shuffle(members);
            for (var j = 0; j < members.Length; j++)
            {
                assignment[members[j]] = j % folds;
            }
        }

        return assignment;
    }

    private static int MemberSeed(int seed, int member) => member == 0 ? seed : unchecked((seed * 7919) + member);

    private static float DecayScale(TrainerOptions options, int epoch, int epochs) =>
        options.LearningRateDecay ? 1f - ((epoch - 1f) / Math.Max(1, epochs)) : 1f;

    private static SoftmaxRegression[] NewMembers(int k, Featurizer featurizer, TrainerOptions options, int[] labels) =>
        Enumerable.Range(0, Math.Max(1, options.Ensemble)).Select(_ => NewModel(k, featurizer, options, labels)).ToArray();

    /// <summary>The members' weights averaged (each the epoch average with <see cref="TrainerOptions.Average"/>): averaging linear models averages their logits.</summary>
    private static SoftmaxRegression Combine(SoftmaxRegression[] members, (float[] Sparse, float[] Dense, float[] Bias)[] sums, int epochs, TrainerOptions options)
    {
        if (members.Length == 1 && !options.Average)
        {
            return members[0];
        }

        var sparse = new float[members[0].Sparse.Length];
        var dense = new float[members[0].Dense.Length];
        var bias = new float[members[0].Bias.Length];
        for (var m = 0; m < members.Length; m++)
        {
            if (options.Average)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(sparse, sums[m].Sparse, sparse);
                System.Numerics.Tensors.TensorPrimitives.Add(dense, sums[m].Dense, dense);
                System.Numerics.Tensors.TensorPrimitives.Add(bias, sums[m].Bias, bias);
            }
            else
            {
                members[m].AddToAverage(sparse, dense, bias);
            }
        }

        return members[0].Averaged(sparse, dense, bias, members.Length * (options.Average ? epochs : 1));
    }

    /// <summary>
    /// Applies the dense head to every stored word vector: because pooling is a mean and the head is linear,
    /// head(mean(vectors)) = mean(head(vector)), so the classifier adds 2 x stride precomputed floats per word instead of
    /// a 100-float vector followed by a matrix product, and the file holds 64 bytes per word instead of 400.
    /// </summary>
    internal static float[] FoldWordVectors(float[] denseHead, float[] vectors, int labels, int dims)
    {
        var stride = LinearHead.StrideFor(labels);
        var rows = vectors.Length / dims;
        var folded = new float[rows * 2 * stride];
        for (var r = 0; r < rows; r++)
        {
            var vector = vectors.AsSpan(r * dims, dims);
            for (var half = 0; half < 2; half++)
            {
                for (var k = 0; k < labels; k++)
                {
                    var head = denseHead.AsSpan((k * 2 * dims) + (half * dims), dims);
                    folded[(r * 2 * stride) + (half * stride) + k] = System.Numerics.Tensors.TensorPrimitives.Dot(head, vector);
                }
            }
        }

        return folded;
    }

    private static string Metadata(TrainerOptions options, IEmbeddingSource? source, int examples, int holdout, int epochs, double f1, double accuracy, float temperature)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("trainer", "modelrouter train-router");
            json.WriteNumber("seed", options.Seed);
            json.WriteNumber("examples", examples);
            json.WriteNumber("holdout_examples", holdout);
            json.WriteNumber("epochs", epochs);
            json.WriteNumber("learning_rate", options.LearningRate);
            json.WriteNumber("l2", options.L2);
            json.WriteBoolean("refit", options.Refit);
            json.WriteBoolean("averaged", options.Average);
            json.WriteString("embeddings", source?.Description ?? "none");
            json.WriteNumber("families", (int)options.Features.Families);
            json.WriteNumber("ensemble", Math.Max(1, options.Ensemble));
            json.WriteNumber("bias_folds", options.BiasFolds);
            json.WriteNumber("label_smoothing", options.LabelSmoothing);
            json.WriteBoolean("learning_rate_decay", options.LearningRateDecay);
            json.WriteNumber("holdout_macro_f1", Math.Round(f1, 4));
            json.WriteNumber("holdout_accuracy", Math.Round(accuracy, 4));
            json.WriteNumber("temperature", temperature);
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Per label, a seeded shuffle and the first <paramref name="fraction"/> of it held out.</summary>
    internal static (int[] Fit, int[] Holdout) StratifiedSplit(int[] labels, int labelCount, double fraction, int seed)
    {
        var random = new Random(seed ^ 0x5EED);
        var fit = new List<int>();
        var holdout = new List<int>();
        for (var k = 0; k < labelCount; k++)
        {
            var members = Enumerable.Range(0, labels.Length).Where(i => labels[i] == k).ToArray();
            random.Shuffle(members);
            var take = members.Length < 5 ? 0 : (int)Math.Round(members.Length * fraction);
            holdout.AddRange(members.Take(take));
            fit.AddRange(members.Skip(take));
        }

        fit.Sort();
        holdout.Sort();
        return (fit.ToArray(), holdout.ToArray());
    }

    private static SoftmaxRegression NewModel(int k, Featurizer featurizer, TrainerOptions options, int[] labels)
    {
        var weights = new float[k];
        for (var i = 0; i < k; i++)
        {
            var n = labels.Count(l => l == i);
            weights[i] = !options.ClassBalanced || n == 0 ? 1f : (float)labels.Length / (k * n);
        }

        return new SoftmaxRegression(k, options.Features.HashBits, featurizer.DenseLength, options.LearningRate, options.L2, weights) { LabelSmoothing = options.LabelSmoothing };
    }

    private static float[][] Logits(SoftmaxRegression model, FeaturizedExamples data, int k)
    {
        var logits = new float[data.Count][];
        for (var i = 0; i < data.Count; i++)
        {
            logits[i] = new float[k];
            model.Scores(data.Rows[i], data.Dense[i], logits[i]);
        }

        return logits;
    }

    private static int ArgMax(float[] values) => Array.IndexOf(values, values.Max());

    private static float[] ChooseThresholds(IReadOnlyList<string> labels, float[][] logits, int[] gold, float temperature, TrainerOptions options)
    {
        var predicted = new int[logits.Length];
        var confidence = new float[logits.Length];
        for (var i = 0; i < logits.Length; i++)
        {
            var p = (float[])logits[i].Clone();
            predicted[i] = LinearHead.Softmax(p, temperature);
            confidence[i] = p[predicted[i]];
        }

        var thresholds = Calibration.Thresholds(labels.Count, predicted, confidence, gold, options.TargetPrecision, options.MaxThreshold);
        if (options.Thresholds is not null)
        {
            foreach (var (label, value) in options.Thresholds)
            {
                var index = labels.ToList().IndexOf(label);
                if (index < 0)
                {
                    throw new TrainingDataException($"a threshold names label '{label}', which the data does not have (labels: {string.Join(", ", labels)}).");
                }

                thresholds[index] = Math.Clamp(value, 0f, 1f);
            }
        }

        return thresholds;
    }

    private static (IEmbeddingSource? Source, ulong[] Hashes, float[] Vectors) PrepareEmbeddings(TrainingSet set, TrainerOptions options, Action<string> log)
    {
        if (options.Gguf is not null)
        {
            return (options.Gguf, [], []);
        }

        if (options.WordVectors is not { } table)
        {
            return (null, [], []);
        }

        // The rows a classifier needs: every word of the training data that GloVe knows, plus its most frequent words
        // (so unseen prompts still find vectors for common words), in GloVe's frequency order.
        var chosen = new SortedSet<int>(Enumerable.Range(0, Math.Min(options.WordVectorTopWords, table.Count)));
        var buffer = new ulong[16384];
        foreach (var example in set.Examples)
        {
            var n = WordTokenizer.Tokenize(example.Text, buffer, out _);
            for (var i = 0; i < n; i++)
            {
                var row = table.Find(buffer[i]);
                if (row >= 0)
                {
                    chosen.Add(row);
                }
            }
        }

        var dims = table.Dimensions;
        var hashes = new ulong[chosen.Count];
        var vectors = new float[chosen.Count * dims];
        var at = 0;
        foreach (var row in chosen)
        {
            hashes[at] = WordTokenizer.HashWord(table.Words[row]);
            table.GetRow(row, vectors.AsSpan(at * dims, dims));
            at++;
        }

        log($"copied {chosen.Count} word vectors ({dims} dims) from {Path.GetFileName(table.FilePath)}");
        return (WordVectorIndex.Build(hashes, vectors, dims, "glove-6b-100d"), hashes, vectors);
    }
}
