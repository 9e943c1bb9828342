namespace ModelRouter.Cli.Soak;

/// <summary>What `modelrouter soak` runs: how long, how often it samples, how hard it drives the server, where it writes.</summary>
public sealed record SoakSettings
{
    /// <summary>Length of the load phase.</summary>
    public required TimeSpan Duration { get; init; }

    /// <summary>Time between two samples of the server process (one table line each).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Samples before this are warm-up (pools filling, JIT, every model restored once); the growth check compares the
    /// first sample at or after it with the last. Null: a fifth of the duration, at most five minutes.
    /// </summary>
    public TimeSpan? WarmUp { get; init; }

    /// <summary>Where forged models, the config, the server's log, soak.csv and summary.json go.</summary>
    public string WorkDirectory { get; init; } = Path.Combine("artifacts", "soak");

    /// <summary>routes.jsonl to train the router from (the demo's); absent: routed requests go to the default model.</summary>
    public string? RoutesFile { get; init; }

    /// <summary>Concurrent workers of each load lane (streams, completions, embeddings, HTTP, cancels, ...).</summary>
    public int Concurrency { get; init; } = 2;

    /// <summary>Largest max_tokens of a generation (each picks 1..this).</summary>
    public int MaxTokens { get; init; } = 24;

    /// <summary>How long requests still open at the end may take before they count as hung.</summary>
    public TimeSpan HungAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest growth, after warm-up, of RSS, GC heap and handles that still passes.</summary>
    public double MaxGrowth { get; init; } = 0.10;

    /// <summary>CPU threads of each model's context (the soak shares the machine with its server).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The `modelrouter` to start as the server; null: the one running (or next to this assembly).</summary>
    public string? ServerExecutable { get; init; }

    public TimeSpan EffectiveWarmUp => WarmUp ?? TimeSpan.FromTicks(Math.Min(Duration.Ticks / 5, TimeSpan.FromMinutes(5).Ticks));

    public void Validate()
    {
        if (Duration <= TimeSpan.Zero)
        {
            throw new ArgumentException($"the soak's duration must be positive (got {Duration})");
        }

        if (Interval < TimeSpan.FromSeconds(1) || Interval > Duration)
        {
            throw new ArgumentException($"--interval must be at least 1 s and at most the duration (got {Interval.TotalSeconds} s for {Duration.TotalSeconds} s)");
        }

        if (EffectiveWarmUp < TimeSpan.Zero || EffectiveWarmUp >= Duration)
        {
            throw new ArgumentException($"--warmup must be at least 0 and shorter than the duration (got {EffectiveWarmUp.TotalSeconds} s)");
        }

        if (Concurrency is < 1 or > 64)
        {
            throw new ArgumentException($"--concurrency must be 1..64 (got {Concurrency})");
        }

        if (MaxTokens is < 1 or > 4096)
        {
            throw new ArgumentException($"--max-tokens must be 1..4096 (got {MaxTokens})");
        }

        if (Threads < 1)
        {
            throw new ArgumentException($"--threads must be at least 1 (got {Threads})");
        }

        if (MaxGrowth is <= 0 or > 10)
        {
            throw new ArgumentException($"--max-growth must be in (0, 10] (got {MaxGrowth})");
        }
    }
}
