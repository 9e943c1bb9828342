namespace ModelRouter.Server.Options;

/// <summary>
/// ModelRouter:Cascade: what decides the task of a request that names no model. Stage 1 (the classifier) always
/// runs; stage 2 (a sentence encoder with its head) only when configured and stage 1 is unsure; the LLM judge only
/// when configured and every stage before it is unsure; then the default model, with the reason.
/// </summary>
public sealed class RouterCascadeOptions
{
    /// <summary>
    /// The stage-2 head file (<c>CLASSIFIER.stage2</c>, written by <c>train-router --stage2</c>); empty: no stage 2.
    /// Off by default: on the checks in docs/routing.md it did not raise out-of-distribution macro-F1.
    /// </summary>
    public string? Stage2Path { get; set; }

    /// <summary>ONNX Runtime threads per stage-2 encoding.</summary>
    public int Stage2Threads { get; set; } = 2;

    /// <summary>A catalog model that judges prompts every stage was unsure of; empty: no judge (the default).</summary>
    public string? JudgeModel { get; set; }

    /// <summary>How long a judgement may take before the request goes to the default model.</summary>
    public int JudgeTimeoutMs { get; set; } = 5000;

    /// <summary>Distinct prompts whose judgement is remembered.</summary>
    public int JudgeCacheSize { get; set; } = 10_000;
}
