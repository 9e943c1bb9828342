using System.Diagnostics;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Evaluation;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Encoders;

/// <summary>
/// Stage 1 alone against stage 1 → stage 2 on labelled data. Stage 1's figure is its arg-max on every prompt (as
/// eval-router reports it); the cascade's takes stage 2's arg-max on the prompts stage 1 is unsure of, which is
/// what the server serves when stage 2 is configured (an unsure stage 2 then goes on to the judge or the default).
/// </summary>
public sealed record CascadeEvaluation(
    ClassificationMetrics Stage1,
    ClassificationMetrics Cascade,
    int Examples,
    int ReachedStage2,
    int Stage2Unsure,
    double Stage1AccuracyOnReached,
    double Stage2AccuracyOnReached,
    IReadOnlyList<double> Stage2Milliseconds)
{
    public double ShareReachingStage2 => Examples == 0 ? 0 : ReachedStage2 / (double)Examples;

    public static CascadeEvaluation Run(TaskClassifier classifier, EncoderStage stage2, TrainingSet data)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(stage2);
        ArgumentNullException.ThrowIfNull(data);
        var aligned = data.AlignTo(classifier.Labels, out _);
        var n = aligned.Examples.Count;
        var gold = new int[n];
        var first = new int[n];
        var cascade = new int[n];
        var reached = 0;
        var unsure2 = 0;
        var right1 = 0;
        var right2 = 0;
        var times = new List<double>();
        for (var i = 0; i < n; i++)
        {
            var example = aligned.Examples[i];
            gold[i] = example.Label;
            var prediction = classifier.Classify(example.Text);
            first[i] = cascade[i] = prediction.Label;
            if (prediction.Confidence > classifier.Thresholds[prediction.Label])
            {
                continue;
            }

            reached++;
            var start = Stopwatch.GetTimestamp();
            var (second, unsure) = stage2.Classify(example.Text);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            cascade[i] = second.Label;
            unsure2 += unsure ? 1 : 0;
            right1 += prediction.Label == example.Label ? 1 : 0;
            right2 += second.Label == example.Label ? 1 : 0;
        }

        return new CascadeEvaluation(
            ClassificationMetrics.Compute(classifier.Labels, gold, first),
            ClassificationMetrics.Compute(classifier.Labels, gold, cascade),
            n,
            reached,
            unsure2,
            reached == 0 ? 0 : right1 / (double)reached,
            reached == 0 ? 0 : right2 / (double)reached,
            times);
    }

    /// <summary>p50 and p99 milliseconds of <paramref name="runs"/> encodings of a prompt of about <paramref name="tokens"/> WordPiece tokens.</summary>
    public static (double P50, double P99) Latency(SentenceEncoder encoder, int tokens, int runs)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        var text = string.Join(' ', Enumerable.Range(0, tokens).Select(i => Words[i % Words.Length]));
        var embedding = new float[encoder.Dimensions];
        encoder.Encode(text, embedding);
        var times = new double[runs];
        for (var i = 0; i < runs; i++)
        {
            var start = Stopwatch.GetTimestamp();
            encoder.Encode(text, embedding);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        return (times[runs / 2], times[Math.Min(runs - 1, (int)Math.Ceiling(runs * 0.99) - 1)]);
    }

    private static readonly string[] Words = ["please", "summarize", "the", "following", "report", "about", "river", "water", "quality", "and", "list", "three", "main", "findings"];
}
