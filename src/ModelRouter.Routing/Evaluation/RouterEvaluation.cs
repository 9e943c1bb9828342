using System.Diagnostics;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Text;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Evaluation;

/// <summary>A classifier measured on a labelled set: quality, how often it is unsure, and per-decision cost.</summary>
public sealed record RouterEvaluation(
    ClassificationMetrics Metrics,
    int UnknownLabels,
    double UnsureFraction,
    double SureAccuracy,
    LatencyReport Latency)
{
    /// <summary>Quality by prompt length (word tokens): short &lt; 32, medium 32-255, long ≥ 256.</summary>
    public IReadOnlyList<LengthBucket> ByLength { get; init; } = [];

    /// <summary>Latency on prompts of about <see cref="LongPromptTokens"/> word tokens (a pasted document); null when not measured.</summary>
    public LatencyReport? LongLatency { get; init; }

    /// <summary>Word tokens of the long latency prompts.</summary>
    public const int LongPromptTokens = 2048;

    /// <summary>Upper bounds (exclusive) of the short and medium length buckets, in word tokens.</summary>
    public static readonly int[] LengthBounds = [32, 256];

    /// <summary>Word tokens around which latency prompts are chosen (the "about 64 tokens").</summary>
    public const int LatencyPromptTokens = 64;

    private const int WarmupMilliseconds = 1500;
    private const int MinimumWarmupDecisions = 20_000;

    /// <summary>Runs <paramref name="classifier"/> over <paramref name="data"/> and measures latency on ~64-token prompts.</summary>
    public static RouterEvaluation Run(TaskClassifier classifier, TrainingSet data, int latencyDecisions = 200_000)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(data);
        var aligned = data.AlignTo(classifier.Labels, out var unknown);
        var gold = new int[aligned.Examples.Count];
        var predicted = new int[gold.Length];
        var scores = new float[classifier.LabelCount];
        var thresholds = classifier.Thresholds.ToArray();
        int sure = 0, sureCorrect = 0;
        for (var i = 0; i < gold.Length; i++)
        {
            var example = aligned.Examples[i];
            var prediction = classifier.Classify(example.Text, scores);
            gold[i] = example.Label;
            predicted[i] = prediction.Label;
            if (prediction.Confidence > thresholds[prediction.Label])
            {
                sure++;
                sureCorrect += prediction.Label == example.Label ? 1 : 0;
            }
        }

        var metrics = ClassificationMetrics.Compute(classifier.Labels, gold, predicted);
        var latency = MeasureLatency(classifier, LatencyPrompts(aligned.Examples.Select(e => e.Text)), latencyDecisions);
        return new RouterEvaluation(
            metrics,
            unknown,
            gold.Length == 0 ? 0 : 1 - ((double)sure / gold.Length),
            sure == 0 ? 0 : (double)sureCorrect / sure,
            latency)
        {
            ByLength = Buckets(classifier.Labels, aligned.Examples, gold, predicted),
            LongLatency = latencyDecisions > 0 ? MeasureLatency(classifier, LongPrompts(aligned.Examples.Select(e => e.Text)), Math.Max(1, latencyDecisions / 40)) : null,
        };
    }

    /// <summary>Splits the decisions by the prompt's word-token count into short, medium and long.</summary>
    public static IReadOnlyList<LengthBucket> Buckets(IReadOnlyList<string> labels, IReadOnlyList<LabeledText> examples, int[] gold, int[] predicted)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        string[] names = ["short", "medium", "long"];
        var members = names.Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < examples.Count; i++)
        {
            WordTokenizer.Tokenize(examples[i].Text, default, out var tokens);
            var bucket = tokens < LengthBounds[0] ? 0 : tokens < LengthBounds[1] ? 1 : 2;
            members[bucket].Add(i);
        }

        return names.Select((name, b) => new LengthBucket(
            name,
            b == 0 ? 0 : LengthBounds[b - 1],
            b < LengthBounds.Length ? LengthBounds[b] : int.MaxValue,
            ClassificationMetrics.Compute(labels, members[b].Select(i => gold[i]).ToArray(), members[b].Select(i => predicted[i]).ToArray()))).ToArray();
    }

    /// <summary>
    /// Prompts of 48 to 80 word tokens from <paramref name="texts"/> (up to 512 of them); when none are that long, the
    /// texts are concatenated until they are.
    /// </summary>
    public static IReadOnlyList<string> LatencyPrompts(IEnumerable<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var buffer = new ulong[4096];
        var all = texts.ToList();
        var chosen = all.Where(t => Count(t, buffer) is >= 48 and <= 80).Take(512).ToList();
        if (chosen.Count > 0 || all.Count == 0)
        {
            return chosen;
        }

        var joined = string.Empty;
        foreach (var text in all)
        {
            joined = joined.Length == 0 ? text : joined + " " + text;
            if (Count(joined, buffer) >= LatencyPromptTokens)
            {
                chosen.Add(joined);
                joined = string.Empty;
            }
        }

        return chosen.Count > 0 ? chosen : [joined];
    }

    /// <summary>
    /// Up to 32 prompts of about <see cref="LongPromptTokens"/> word tokens: a short request, a blank line, then texts of
    /// <paramref name="texts"/> joined until long enough (a pasted document, the shape that costs the most).
    /// </summary>
    public static IReadOnlyList<string> LongPrompts(IEnumerable<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var all = texts.ToList();
        var prompts = new List<string>();
        if (all.Count == 0)
        {
            return prompts;
        }

        var at = 0;
        for (var p = 0; p < 32; p++)
        {
            var builder = new System.Text.StringBuilder("Summarize the following document and list its main points.\n\n");
            var tokens = 0;
            var guard = 0;
            while (tokens < LongPromptTokens && guard++ < 100_000)
            {
                var text = all[at++ % all.Count];
                builder.Append(text).Append(' ');
                WordTokenizer.Tokenize(text, default, out var count);
                tokens += Math.Max(1, count);
            }

            prompts.Add(builder.ToString());
        }

        return prompts;
    }

    /// <summary>
    /// Times each decision alone on the calling thread (after a warm-up) and counts the bytes the thread allocated
    /// across all of them.
    /// </summary>
    public static LatencyReport MeasureLatency(TaskClassifier classifier, IReadOnlyList<string> prompts, int decisions)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0 || decisions <= 0)
        {
            return new LatencyReport(0, 0, 0, 0, 0, 0, 0, 0);
        }

        var scores = new float[classifier.LabelCount];

        // The steady state is what a running server sees: the runtime recompiles hot methods with full optimisation
        // only after they have run for a while (tiered compilation waits ~100 ms of quiet), so warm up by time, not
        // by count; timing the first 20,000 decisions alone measured partly unoptimised code (p99 of 9-13 µs).
        var warmupUntil = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * WarmupMilliseconds / 1000);
        for (var i = 0; i < MinimumWarmupDecisions || Stopwatch.GetTimestamp() < warmupUntil; i++)
        {
            classifier.Classify(prompts[i % prompts.Count], scores);
        }

        var ticks = new long[decisions];
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < decisions; i++)
        {
            var prompt = prompts[i % prompts.Count];
            var start = Stopwatch.GetTimestamp();
            classifier.Classify(prompt, scores);
            ticks[i] = Stopwatch.GetTimestamp() - start;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Array.Sort(ticks);
        var toNs = 1e9 / Stopwatch.Frequency;
        var buffer = new ulong[4096];
        return new LatencyReport(
            decisions,
            prompts.Count,
            prompts.Average(p => Count(p, buffer)),
            ticks[decisions / 2] * toNs,
            ticks[(int)(decisions * 0.90)] * toNs,
            ticks[Math.Min(decisions - 1, (int)(decisions * 0.99))] * toNs,
            ticks.Average() * toNs,
            (double)allocated / decisions);
    }

    private static int Count(string text, ulong[] buffer)
    {
        WordTokenizer.Tokenize(text, buffer, out var total);
        return total;
    }
}

/// <summary>Decisions on prompts of <see cref="MinTokens"/> to <see cref="MaxTokens"/> (exclusive) word tokens.</summary>
public sealed record LengthBucket(string Name, int MinTokens, int MaxTokens, ClassificationMetrics Metrics);
