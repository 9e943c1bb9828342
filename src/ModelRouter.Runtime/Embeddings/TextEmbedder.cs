using System.Buffers;
using System.Numerics.Tensors;
using ModelRouter.Interop;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Embeddings;

/// <summary>
/// Pooled sentence embeddings from a model: one vector per text, written into the caller's span. Embedding models
/// use their own pooling; a generative model without one is mean-pooled. Not thread-safe (owns one context).
/// </summary>
public sealed unsafe class TextEmbedder : IDisposable
{
    private readonly InferenceContext context;
    private readonly bool encoderOnly;

    private TextEmbedder(InferenceContext context, bool normalize)
    {
        this.context = context;
        Normalize = normalize;
        Dimensions = context.Model.EmbeddingLength;
        using var lease = new HandleLease(context.Model.Handle);
        encoderOnly = Llama.llama_model_has_encoder(context.Model.Handle.Pointer) && !Llama.llama_model_has_decoder(context.Model.Handle.Pointer);
    }

    /// <summary>Length of each embedding vector (the model's n_embd).</summary>
    public int Dimensions { get; }

    /// <summary>Whether vectors are scaled to unit length (cosine similarity becomes a dot product).</summary>
    public bool Normalize { get; }

    public EmbeddingPooling Pooling => context.Pooling;

    /// <summary>Most tokens one text may have.</summary>
    public int MaxTokens => context.BatchCapacity;

    /// <summary>Creates an embedder with its own context of <paramref name="maxTokens"/> tokens.</summary>
    public static TextEmbedder Create(Model model, int maxTokens = 512, EmbeddingPooling? pooling = null, bool normalize = true, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        var options = new ContextOptions { ContextLength = maxTokens, BatchSize = maxTokens, Embeddings = true, Pooling = pooling, Threads = threads };
        var context = InferenceContext.Create(model, options);
        if (context.Pooling == EmbeddingPooling.None)
        {
            // A generative model has no pooling of its own: mean-pool its last hidden states.
            context.Dispose();
            context = InferenceContext.Create(model, options with { Pooling = EmbeddingPooling.Mean });
        }

        return new TextEmbedder(context, normalize);
    }

    /// <summary>Embeds <paramref name="text"/> into <paramref name="destination"/> (at least <see cref="Dimensions"/> long).</summary>
    /// <exception cref="ArgumentException">Destination too short, empty text, or text longer than <see cref="MaxTokens"/>.</exception>
    public void Embed(ReadOnlySpan<char> text, Span<float> destination)
    {
        if (destination.Length < Dimensions)
        {
            throw new ArgumentException($"The destination holds {destination.Length} floats; embeddings of this model have {Dimensions}.", nameof(destination));
        }

        var tokens = ArrayPool<int>.Shared.Rent(MaxTokens);
        try
        {
            var vocabulary = context.Model.Vocabulary;
            if (!vocabulary.TryTokenize(text, tokens.AsSpan(0, MaxTokens), out var count, Text.TokenizeOptions.AddSpecial))
            {
                throw new ArgumentException($"The text is {count} tokens; this embedder takes at most {MaxTokens}.", nameof(text));
            }

            if (count == 0)
            {
                throw new ArgumentException("The text produced no tokens.", nameof(text));
            }

            context.ClearSequence(0);
            context.ResetBatch();
            for (var i = 0; i < count; i++)
            {
                context.AddToBatch(tokens[i], i, 0, wantLogits: true);
            }

            if (encoderOnly)
            {
                context.Encode();
            }
            else if (context.Decode() != 0)
            {
                throw new InferenceException("No room in the context for the text.");
            }

            float* pooled;
            using (var lease = new HandleLease(context.Handle))
            {
                pooled = Llama.llama_get_embeddings_seq(context.Pointer, 0);
            }

            if (pooled == null)
            {
                throw new InferenceException("llama.cpp returned no pooled embedding for the sequence.");
            }

            var vector = destination[..Dimensions];
            new ReadOnlySpan<float>(pooled, Dimensions).CopyTo(vector);
            if (Normalize)
            {
                var norm = TensorPrimitives.Norm(vector);
                if (norm > 0)
                {
                    TensorPrimitives.Divide(vector, norm, vector);
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(tokens);
        }
    }

    public void Dispose() => context.Dispose();
}
