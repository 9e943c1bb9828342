using ModelRouter.Interop;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Inference;

/// <summary>
/// A llama.cpp context (KV cache, compute buffers) over a model, with one reusable native batch. Not thread-safe:
/// one driver (a generator, the scheduler's worker) owns it at a time. Keeps its model alive until disposed.
/// </summary>
public sealed unsafe class InferenceContext : IDisposable
{
    private readonly SafeContextHandle handle;
    private llama_batch batch;
    private bool disposed;

    private InferenceContext(Model model, SafeContextHandle handle, ContextOptions options, ContextMemory memory)
    {
        Model = model;
        Memory = memory;
        this.handle = handle;
        ContextLength = (int)Llama.llama_n_ctx(handle.Pointer);
        MaxSequences = (int)Llama.llama_n_seq_max(handle.Pointer);
        BatchCapacity = options.BatchSize;
        Embeddings = options.Embeddings;
        batch = Llama.llama_batch_init(options.BatchSize, 0, 1);
        Options = options;
        Prefixes = new PrefixCache(this, MaxSequences, options.Embeddings ? 0 : Math.Min(options.PrefixCacheTokens ?? ContextLength, ContextLength));
    }

    /// <summary>The options it was created with.</summary>
    public ContextOptions Options { get; }

    /// <summary>
    /// Which KV sequence slots generations hold and which tokens idle ones keep for prefix reuse (generation contexts;
    /// an embedding context keeps nothing).
    /// </summary>
    public PrefixCache Prefixes { get; }

    public Model Model { get; }

    /// <summary>What this context holds besides the weights (KV cache, output and compute buffers), fixed at creation.</summary>
    public ContextMemory Memory { get; }

    /// <summary><see cref="Memory"/>'s total: the bytes a pool counts for this context.</summary>
    public long MemoryBytes => Memory.TotalBytes;

    /// <summary>KV cells of the whole context (all sequences together).</summary>
    public int ContextLength { get; }

    public int MaxSequences { get; }

    /// <summary>Tokens one <see cref="Decode"/> can carry.</summary>
    public int BatchCapacity { get; }

    public bool Embeddings { get; }

    /// <summary>Cells each sequence may use: the context split evenly, so one long request cannot starve the others.</summary>
    public int SequenceCapacity => ContextLength / MaxSequences;

    internal llama_context* Pointer => handle.Pointer;

    internal SafeContextHandle Handle => handle;

    /// <summary>Creates a context over <paramref name="model"/>.</summary>
    /// <exception cref="InferenceException">llama.cpp could not create it (e.g. out of memory).</exception>
    public static InferenceContext Create(Model model, ContextOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= ContextOptions.Default;
        options.Validate();
        var parameters = Llama.llama_context_default_params();
        parameters.n_ctx = (uint)options.ContextLength;
        parameters.n_batch = (uint)options.BatchSize;
        parameters.n_ubatch = (uint)Math.Min(options.BatchSize, (int)parameters.n_ubatch);
        parameters.n_seq_max = (uint)options.MaxSequences;
        // One KV stream per sequence, each of n_ctx / n_seq_max cells: exactly SequenceCapacity, so nothing is lost by
        // not sharing cells. A unified cache costs every decode: llama.cpp then validates batches against
        // LLAMA_MAX_SEQ (256) sequences, O(256²) per call, which cut the decode of a small model by a third
        // (docs/benchmarks.md) and the server's streamed tokens/s by about as much with 8 sequences.
        parameters.kv_unified = false;
        parameters.embeddings = options.Embeddings;
        if (options.Embeddings)
        {
            // Pooled embeddings need a whole sequence in one micro-batch. Several sequences of unequal length share a
            // batch (TextEmbedder.EmbedBatch): with one KV stream per sequence llama.cpp splits such a batch into equal
            // per-sequence micro-batches, and each sequence would then be pooled over only its last slice. One unified
            // stream keeps every sequence whole (the O(256²) batch check is paid once per embedding batch, not per token).
            parameters.n_ubatch = parameters.n_batch;
            parameters.kv_unified = true;
            parameters.pooling_type = options.Pooling is { } pooling ? (llama_pooling_type)(int)pooling : llama_pooling_type.LLAMA_POOLING_TYPE_UNSPECIFIED;
        }

        parameters.no_perf = true;
        var threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        parameters.n_threads = threads;
        parameters.n_threads_batch = options.BatchThreads > 0 ? options.BatchThreads : threads;

        using var lease = new HandleLease(model.Handle);
        NativeLog.ClearRecentErrors();
        var rssBefore = ProcessMemory.ResidentBytes();
        llama_context* context;
        IReadOnlyList<string> log;
        NativeLog.BeginCapture(); // llama.cpp reports its buffer sizes only in its log, on this thread
        try
        {
            context = Llama.llama_init_from_model(model.Handle.Pointer, parameters);
        }
        finally
        {
            log = NativeLog.EndCapture();
        }

        if (context == null)
        {
            throw new InferenceException(
                $"llama.cpp could not create a context (n_ctx {options.ContextLength}, n_seq_max {options.MaxSequences}) for '{model.FilePath}': " +
                (NativeLog.TakeRecentErrors() ?? "no error text"));
        }

        var memory = ContextMemory.FromLlamaLog(log)
            ?? new ContextMemory(0, 0, Math.Max(0, (ProcessMemory.ResidentBytes() ?? 0) - (rssBefore ?? 0)), ContextMemorySource.RssEstimate);
        return new InferenceContext(model, new SafeContextHandle(context, model.Handle), options, memory);
    }

    /// <summary>Forgets everything sequence <paramref name="sequence"/> has in the KV cache.</summary>
    public void ClearSequence(int sequence)
    {
        using var lease = new HandleLease(handle);
        Llama.llama_memory_seq_rm(Llama.llama_get_memory(handle.Pointer), sequence, -1, -1);
    }

    /// <summary>Empties the native batch before it is filled again.</summary>
    internal void ResetBatch() => batch.n_tokens = 0;

    internal int BatchCount => batch.n_tokens;

    /// <summary>Appends one token of one sequence to the batch; returns its index in the batch.</summary>
    internal int AddToBatch(int token, int position, int sequence, bool wantLogits)
    {
        var i = batch.n_tokens;
        batch.token[i] = token;
        batch.pos[i] = position;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = sequence;
        batch.logits[i] = wantLogits ? (sbyte)1 : (sbyte)0;
        batch.n_tokens = i + 1;
        return i;
    }

    /// <summary>Runs the model on the batch.</summary>
    /// <returns>0 on success, 1 when the KV cache has no room (llama_decode's codes).</returns>
    /// <exception cref="InferenceException">llama_decode failed.</exception>
    internal int Decode()
    {
        using var lease = new HandleLease(handle);
        NativeLog.ClearRecentErrors();
        var status = Llama.llama_decode(handle.Pointer, batch);
        if (status is 0 or 1)
        {
            return status;
        }

        throw new InferenceException($"llama_decode failed with status {status}: {NativeLog.TakeRecentErrors() ?? "no error text"}");
    }

    /// <summary>The pooling this context applies (the model's own when none was asked for).</summary>
    public EmbeddingPooling Pooling
    {
        get
        {
            using var lease = new HandleLease(handle);
            var pooling = Llama.llama_pooling_type(handle.Pointer);
            return pooling == llama_pooling_type.LLAMA_POOLING_TYPE_UNSPECIFIED ? EmbeddingPooling.None : (EmbeddingPooling)(int)pooling;
        }
    }

    /// <summary>Runs an encoder-only model (BERT-style embedding models) on the batch.</summary>
    /// <exception cref="InferenceException">llama_encode failed.</exception>
    internal void Encode()
    {
        using var lease = new HandleLease(handle);
        NativeLog.ClearRecentErrors();
        var status = Llama.llama_encode(handle.Pointer, batch);
        if (status != 0)
        {
            throw new InferenceException($"llama_encode failed with status {status}: {NativeLog.TakeRecentErrors() ?? "no error text"}");
        }
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        Llama.llama_batch_free(batch);
        batch = default;
        handle.Dispose();
    }
}
