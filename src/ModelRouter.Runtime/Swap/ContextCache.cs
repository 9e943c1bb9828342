using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The contexts of one model's weights, one per distinct <see cref="ContextOptions"/>: two requests for the same
/// weights with different context sizes get two contexts, never a second copy of the weights. Owned by a weight
/// store, which disposes them before the model they were created from.
/// </summary>
internal sealed class ContextCache
{
    private readonly Dictionary<ContextOptions, InferenceContext> contexts = [];

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
            }

            return context;
        }
    }

    public void DisposeAll()
    {
        lock (contexts)
        {
            foreach (var context in contexts.Values)
            {
                context.Dispose();
            }

            contexts.Clear();
        }
    }
}
