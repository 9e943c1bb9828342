using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The contexts of one model's weights, one per distinct <see cref="ContextOptions"/>: two requests for the same
/// weights with different context sizes get two contexts, never a second copy of the weights. Owned by a weight
/// store, which disposes them before the model they were created from. A context released while its weights stay
/// usable leaves its hottest cached sequences in host memory (<see cref="ContextOptions.HostKvBudgetBytes"/>): the next
/// context with the same options starts with them, so a conversation stays a prefix-cache hit across the swap.
/// </summary>
internal sealed class ContextCache
{
    private readonly Dictionary<ContextOptions, InferenceContext> contexts = [];
    private readonly Dictionary<ContextOptions, SavedPrefixes> saved = [];

    /// <summary>Host memory the saved sequences of released contexts hold (not counted in the device budget).</summary>
    public long SavedBytes
    {
        get
        {
            lock (contexts)
            {
                return saved.Values.Sum(s => s.Bytes);
            }
        }
    }

    /// <summary>What the live contexts hold together (<see cref="InferenceContext.MemoryBytes"/>).</summary>
    public long Bytes
    {
        get
        {
            lock (contexts)
            {
                return contexts.Values.Sum(c => c.MemoryBytes);
            }
        }
    }

    public InferenceContext GetOrCreate(Model model, ContextOptions options)
    {
        lock (contexts)
        {
            if (!contexts.TryGetValue(options, out var context))
            {
                context = InferenceContext.Create(model, options);
                contexts.Add(options, context);
                if (saved.Remove(options, out var prefixes))
                {
                    context.Prefixes.Load(prefixes);
                }
            }

            return context;
        }
    }

    /// <summary>
    /// Frees every context. With <paramref name="keepPrefixes"/> (the weights stay as they are: a release for room, an
    /// evict that frees the model) each saves its hottest cached sequences first; without (the weights are dropped, or
    /// the file changed) the saved ones are forgotten too.
    /// </summary>
    public void DisposeAll(bool keepPrefixes = true)
    {
        lock (contexts)
        {
            foreach (var (options, context) in contexts)
            {
                if (keepPrefixes && context.Prefixes.Save(options.HostKvBudgetBytes) is { } prefixes)
                {
                    saved[options] = prefixes;
                }

                context.Dispose();
            }

            contexts.Clear();
            if (!keepPrefixes)
            {
                saved.Clear();
            }
        }
    }
}
