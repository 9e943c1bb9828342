using ModelRouter.Runtime.Embeddings;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Swap;
using ModelRouter.Server.Options;

namespace ModelRouter.Cli.Demo;

/// <summary>
/// What the server's pool counts for one demo model once it has served: its weights as loaded (the swap region's
/// figure, which for the forged models is well above the GGUF's tensor sizes: the tied token embedding is loaded twice,
/// once as the input table and once, repacked, as the output matrix) plus the contexts its worker creates (KV cache,
/// output and compute buffers; the compute buffer holds a whole batch of logits, 512 × vocabulary floats).
/// </summary>
public sealed record DemoFootprint(string Name, long WeightBytes, long GenerationContextBytes, long EmbeddingContextBytes)
{
    /// <summary>Weights plus the generation context: what a model that only generates holds.</summary>
    public long GenerationBytes => WeightBytes + GenerationContextBytes;

    /// <summary>Weights plus both contexts: what a model that generates and embeds holds.</summary>
    public long TotalBytes => GenerationBytes + EmbeddingContextBytes;
}

/// <summary>
/// Measures <see cref="DemoFootprint"/>s the way the pool counts them, by loading each model once through a pool of its
/// own with the weight store this build's server uses and asking for the contexts the server's model worker asks for.
/// A formula from the file would drift from llama.cpp's own buffer sizes (repacking, duplicated tensors, compute-graph
/// reservation), and a budget below a loaded model fails every request for it.
/// </summary>
public static class DemoFootprints
{
    public static async Task<IReadOnlyList<DemoFootprint>> MeasureAsync(
        IReadOnlyDictionary<string, string> paths, SchedulerSettings scheduler, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(scheduler);
        var stores = WeightStores.ForThisBuild();
        var footprints = new List<DemoFootprint>(paths.Count);
        foreach (var (name, path) in paths.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // A pool per model, disposed at once: one model's memory at a time, and figures that are that model's alone.
            using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = long.MaxValue / 2, StoreFactory = stores });
            pool.Register(new ModelRegistration(name, path));
            using var lease = await pool.AcquireAsync(name, cancellation).ConfigureAwait(false);
            var weights = pool.WeightBytes;
            lease.GetContext(GenerationContext(scheduler));
            var generation = pool.ContextBytes;
            CreateEmbeddingContexts(lease, scheduler);
            footprints.Add(new DemoFootprint(name, weights, generation, pool.ContextBytes - generation));
        }

        return footprints;
    }

    /// <summary>The generation context of the server's model worker (ModelWorker.Serve): one per model, all sequences.</summary>
    public static ContextOptions GenerationContext(SchedulerSettings scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        return new ContextOptions
        {
            ContextLength = scheduler.ContextPerSequence * scheduler.MaxBatchPerModel,
            BatchSize = 512,
            MaxSequences = scheduler.MaxBatchPerModel,
            Threads = scheduler.Threads,
        };
    }

    /// <summary>
    /// The embedding contexts of the server's model worker (ModelWorker.Embed), the same calls in the same order: a model
    /// without pooling of its own asks for mean pooling at once; one whose context still reports none gets a second.
    /// </summary>
    private static void CreateEmbeddingContexts(ModelLease lease, SchedulerSettings scheduler)
    {
        var model = lease.Model;
        var ownPooling = model.GetMetadata(model.Architecture + ".pooling_type") is not null;
        var options = TextEmbedder.BatchOptions(scheduler.EmbeddingTokensPerInput, scheduler.EmbeddingInputsPerDecode, scheduler.Threads,
            ownPooling ? null : EmbeddingPooling.Mean);
        if (lease.GetContext(options).Pooling == EmbeddingPooling.None)
        {
            lease.GetContext(options with { Pooling = EmbeddingPooling.Mean });
        }
    }
}
