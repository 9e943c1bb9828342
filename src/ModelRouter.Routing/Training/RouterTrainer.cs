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
        var all = FeaturizedExamples.Create(featurizer, set.Examples);
        log(string.Create(CultureInfo.InvariantCulture, $"featurized {all.Count} examples ({featurizer.DenseLength} dense dims, embeddings: {source?.Description ?? "none"}) in {clock.Elapsed.TotalSeconds:F1} s"));

        var (fitIndices, holdoutIndices) = StratifiedSplit(all.Labels, set.Labels.Count, options.HoldoutFraction, options.Seed);
        var fit = all.Subset(fitIndices);
        var holdout = all.Subset(holdoutIndices);
        var k = set.Labels.Count;

        // Choose the epoch count on the held-out split, remembering its logits at the best epoch for calibration.
        var model = NewModel(k, featurizer, options, fit.Labels);
        var random = new Random(options.Seed);
        var order = Enumerable.Range(0, fit.Count).ToArray();
        var bestEpoch = 0;
        var bestF1 = -1.0;
        float[][] bestLogits = [];
        ClassificationMetrics? bestMetrics = null;
        var bestModel = model;
        var (sparseSum, denseSum, biasSum) = (new float[model.Sparse.Length], new float[model.Dense.Length], new float[k]);
        for (var epoch = 1; epoch <= options.MaxEpochs; epoch++)
        {
            random.Shuffle(order);
            model.Epoch(fit, order);
            model.AddToAverage(sparseSum, denseSum, biasSum);
            if (holdout.Count == 0)
            {
                bestEpoch = epoch;
                continue;
            }

            var candidate = options.Average ? model.Averaged(sparseSum, denseSum, biasSum, epoch) : model;
            var logits = Logits(candidate, holdout, k);
            var metrics = ClassificationMetrics.Compute(set.Labels, holdout.Labels, logits.Select(ArgMax).ToArray());
            log(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch,2}: held-out macro-F1 {metrics.MacroF1:F4}, accuracy {metrics.Accuracy:F4}"));
            if (metrics.MacroF1 > bestF1)
            {
                bestF1 = metrics.MacroF1;
                bestEpoch = epoch;
                bestLogits = logits;
                bestMetrics = metrics;
                bestModel = candidate;
            }
            else if (epoch - bestEpoch >= options.Patience)
            {
                break;
            }
        }

        var temperature = bestLogits.Length > 0 ? Calibration.FitTemperature(bestLogits, holdout.Labels) : 1f;
        var thresholds = ChooseThresholds(set.Labels, bestLogits, holdout.Labels, temperature, options);
        log(string.Create(CultureInfo.InvariantCulture, $"chose {bestEpoch} epochs (held-out macro-F1 {bestF1:F4}), temperature {temperature:F3}"));

        model = bestModel;
        if (options.Refit && holdout.Count > 0)
        {
            model = NewModel(k, featurizer, options, all.Labels);
            random = new Random(options.Seed);
            order = Enumerable.Range(0, all.Count).ToArray();
            (sparseSum, denseSum, biasSum) = (new float[model.Sparse.Length], new float[model.Dense.Length], new float[k]);
            for (var epoch = 1; epoch <= bestEpoch; epoch++)
            {
                random.Shuffle(order);
                model.Epoch(all, order);
                model.AddToAverage(sparseSum, denseSum, biasSum);
            }

            if (options.Average)
            {
                model = model.Averaged(sparseSum, denseSum, biasSum, bestEpoch);
            }

            log($"refit on all {all.Count} examples for {bestEpoch} epochs");
        }

        var metadata = Metadata(options, source, all.Count, holdout.Count, bestEpoch, bestF1, bestMetrics?.Accuracy ?? 0, temperature);

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
        return new TrainingResult(classifier, holdoutMetrics, bestEpoch, temperature, holdout.Count, clock.Elapsed);
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

        return new SoftmaxRegression(k, options.Features.HashBits, featurizer.DenseLength, options.LearningRate, options.L2, weights);
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
