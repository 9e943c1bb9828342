using System.Globalization;
using ModelRouter.Routing.Decisions;
using ModelRouter.Server.Diagnostics;

namespace ModelRouter.Server.Routing;

/// <summary>Which part of the cascade settled a request's task.</summary>
public enum CascadeStage
{
    /// <summary>The client named the capability; nothing was classified.</summary>
    Hint,

    /// <summary>Stage 1, the classifier, above its route's threshold.</summary>
    Classifier,

    /// <summary>Stage 2, the sentence encoder's head, above its threshold (stage 1 was unsure).</summary>
    Encoder,

    /// <summary>The LLM judge (every stage before it was unsure).</summary>
    Judge,

    /// <summary>Nothing was sure: the default model serves, and <see cref="CascadeDecision.Why"/> says why.</summary>
    Default,
}

/// <summary>
/// The cascade's answer: the task, the deciding stage and its confidence (the judge gives no probability: 1), and
/// for <see cref="CascadeStage.Default"/> why every stage passed.
/// </summary>
public sealed record CascadeDecision(string Task, float Confidence, CascadeStage Stage, string? Why)
{
    public bool Unsure => Stage == CascadeStage.Default;

    /// <summary>The stage's name on the wire and in metrics (hint, classifier, encoder, judge, default).</summary>
    public string StageName => Name(Stage);

    public static string Name(CascadeStage stage) => stage switch
    {
        CascadeStage.Hint => "hint",
        CascadeStage.Classifier => "classifier",
        CascadeStage.Encoder => "encoder",
        CascadeStage.Judge => "judge",
        _ => "default",
    };
}

/// <summary>
/// Stage 1 → stage 2 (when configured, only for prompts stage 1 is unsure of) → LLM judge (when configured, only when
/// every stage was unsure) → default. Each stage runs only if the one before it passed, so the common case costs stage
/// 1's microsecond. A stage that throws counts as unsure (its error is in the reason): routing never fails a request.
/// Per-stage decisions are counted here and in <see cref="ServerMetrics"/>. Thread-safe.
/// </summary>
public sealed class RouteCascade
{
    private readonly ITaskClassifier stage1;
    private readonly ITaskClassifier? stage2;
    private readonly ILlmJudge? judge;
    private readonly IReadOnlyList<string> judgeRoutes;
    private readonly TimeSpan judgeTimeout;
    private readonly ServerMetrics? metrics;
    private readonly long[] counts = new long[5];

    /// <param name="judgeRoutes">The tasks the judge chooses among (the catalog's routes).</param>
    public RouteCascade(ITaskClassifier stage1, ITaskClassifier? stage2 = null, ILlmJudge? judge = null, IReadOnlyList<string>? judgeRoutes = null,
        TimeSpan? judgeTimeout = null, ServerMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(stage1);
        this.stage1 = stage1;
        this.stage2 = stage2;
        this.judgeRoutes = judgeRoutes ?? [];
        this.judge = this.judgeRoutes.Count > 0 ? judge : null;
        this.judgeTimeout = judgeTimeout ?? TimeSpan.FromSeconds(5);
        this.metrics = metrics;
    }

    public bool HasStage2 => stage2 is not null;

    public bool HasJudge => judge is not null;

    /// <summary>Decisions settled by <paramref name="stage"/> since start.</summary>
    public long Count(CascadeStage stage) => Interlocked.Read(ref counts[(int)stage]);

    /// <summary>Counts a decision the router settled without the cascade (a capability hint).</summary>
    public void RecordHint() => Record(CascadeStage.Hint);

    /// <summary>
    /// Decides; completes synchronously unless the judge is asked. Cancellation of <paramref name="cancellationToken"/>
    /// is the caller's and is thrown; the judge's own timeout is not (the default model serves).
    /// </summary>
    public async ValueTask<CascadeDecision> DecideAsync(string prompt, CancellationToken cancellationToken = default)
    {
        var inv = CultureInfo.InvariantCulture;
        var (task, confidence, unsure) = stage1.Classify(prompt);
        if (!unsure)
        {
            return Record(new CascadeDecision(task, confidence, CascadeStage.Classifier, null));
        }

        var why = string.Create(inv, $"classifier unsure ({task} at {confidence:F2})");
        if (stage2 is not null)
        {
            try
            {
                var (task2, confidence2, unsure2) = stage2.Classify(prompt);
                if (!unsure2)
                {
                    return Record(new CascadeDecision(task2, confidence2, CascadeStage.Encoder, null));
                }

                why += string.Create(inv, $", encoder unsure ({task2} at {confidence2:F2})");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                why += $", encoder failed ({ex.GetType().Name}: {ex.Message})";
            }
        }

        if (judge is not null)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(judgeTimeout);
            try
            {
                var choice = await judge.ChooseAsync(prompt, judgeRoutes, timeout.Token).ConfigureAwait(false);
                if (choice is { } index && index >= 0 && index < judgeRoutes.Count)
                {
                    return Record(new CascadeDecision(judgeRoutes[index], 1f, CascadeStage.Judge, null));
                }

                why += ", judge gave no usable answer";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                why += string.Create(inv, $", judge timed out after {judgeTimeout.TotalMilliseconds:F0} ms");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                why += $", judge failed ({ex.GetType().Name}: {ex.Message})";
            }
        }

        return Record(new CascadeDecision(task, confidence, CascadeStage.Default, why));
    }

    private CascadeDecision Record(CascadeDecision decision)
    {
        Record(decision.Stage);
        return decision;
    }

    private void Record(CascadeStage stage)
    {
        Interlocked.Increment(ref counts[(int)stage]);
        metrics?.RecordRouteStage(CascadeDecision.Name(stage));
    }
}
