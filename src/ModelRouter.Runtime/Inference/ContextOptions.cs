namespace ModelRouter.Runtime.Inference;

/// <summary>Pooling of per-token embeddings into one vector per sequence (enum llama_pooling_type).</summary>
public enum EmbeddingPooling
{
    None = 0,
    Mean = 1,
    Cls = 2,
    Last = 3,
}

/// <summary>Options of an <see cref="InferenceContext"/>, mapped to llama_context_params.</summary>
public sealed record ContextOptions
{
    /// <summary>KV-cache cells shared by all sequences (n_ctx); 0 takes the model's training length.</summary>
    public int ContextLength { get; init; } = 4096;

    /// <summary>Most tokens one decode call may carry (n_batch); prompts longer than this are fed in chunks.</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>Sequences decoded together in one context (n_seq_max): concurrent requests batched into one decode.</summary>
    public int MaxSequences { get; init; } = 1;

    /// <summary>Threads for single-token decoding; 0 uses all cores.</summary>
    public int Threads { get; init; }

    /// <summary>Threads for prompt (batch) processing; 0 uses all cores.</summary>
    public int BatchThreads { get; init; }

    /// <summary>Produce embeddings (pooled per sequence for embedding models) instead of only logits.</summary>
    public bool Embeddings { get; init; }

    /// <summary>How token embeddings become one vector per sequence; null takes the model's own setting.</summary>
    public EmbeddingPooling? Pooling { get; init; }

    /// <summary>
    /// Prefix reuse (generation contexts): most tokens the KV cells of finished sequences keep together for later prompts
    /// that start with the same tokens, least recently used dropped first. Null: all the context holds; 0: off (every
    /// prompt is decoded whole).
    /// </summary>
    public int? PrefixCacheTokens { get; init; }

    /// <summary>
    /// When the context is released (a model's contexts freed under memory pressure, or evicted on the reload path), the
    /// most recently used kept sequences are copied to host memory up to this many bytes and copied back into the next
    /// context created with the same options, so a conversation stays a cache hit across the swap. 0: nothing is saved.
    /// </summary>
    public long HostKvBudgetBytes { get; init; }

    public static ContextOptions Default { get; } = new();

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ContextLength, nameof(ContextLength));
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1, nameof(BatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSequences, 1, nameof(MaxSequences));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxSequences, 256, nameof(MaxSequences));
        ArgumentOutOfRangeException.ThrowIfNegative(Threads, nameof(Threads));
        ArgumentOutOfRangeException.ThrowIfNegative(BatchThreads, nameof(BatchThreads));
        if (PrefixCacheTokens is { } tokens)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(tokens, nameof(PrefixCacheTokens));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(HostKvBudgetBytes, nameof(HostKvBudgetBytes));
    }
}
