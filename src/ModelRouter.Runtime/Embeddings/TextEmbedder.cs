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
    private readonly bool ownsContext;

    private TextEmbedder(InferenceContext context, bool normalize, bool ownsContext = true)
    {
        this.context = context;
        this.ownsContext = ownsContext;
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
    public int MaxTokens => Math.Min(context.BatchCapacity, context.SequenceCapacity);

    /// <summary>Most texts one decode embeds together.</summary>
    public int MaxTextsPerDecode => context.MaxSequences;

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

    /// <summary>
    /// The context options of a batched embedder: <paramref name="texts"/> sequences of up to
    /// <paramref name="tokensPerText"/> tokens each, decoded together. A generative model has no pooling of its own:
    /// callers retry with <see cref="EmbeddingPooling.Mean"/> when the context reports none (see <see cref="Over"/>).
    /// </summary>
    public static ContextOptions BatchOptions(int tokensPerText, int texts, int threads, EmbeddingPooling? pooling = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokensPerText, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(texts, 1);
        return new ContextOptions
        {
            ContextLength = tokensPerText * texts,
            BatchSize = tokensPerText * texts,
            MaxSequences = texts,
            Embeddings = true,
            Pooling = pooling,
            Threads = threads,
        };
    }

    /// <summary>
    /// An embedder over a context someone else owns (a model lease's cached context): disposing the embedder leaves the
    /// context alone. The context must produce pooled embeddings.
    /// </summary>
    /// <exception cref="ArgumentException">The context has no pooling or does not produce embeddings.</exception>
    public static TextEmbedder Over(InferenceContext context, bool normalize)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Pooling == EmbeddingPooling.None)
        {
            throw new ArgumentException("The context pools no embeddings; create it with a pooling type.", nameof(context));
        }

        return new TextEmbedder(context, normalize, ownsContext: false);
    }

    /// <summary>
    /// Embeds every text into consecutive <see cref="Dimensions"/>-float slices of <paramref name="destination"/>, as many
    /// texts per decode as the context has sequences (and its batch has room for), and writes each text's token count.
    /// </summary>
    /// <exception cref="ArgumentException">A text is empty or longer than <see cref="MaxTokens"/>, or a span is too short.</exception>
    public void EmbedBatch(IReadOnlyList<string> texts, Span<float> destination, Span<int> tokenCounts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (destination.Length < texts.Count * Dimensions || tokenCounts.Length < texts.Count)
        {
            throw new ArgumentException($"{texts.Count} texts need {texts.Count * Dimensions} floats and {texts.Count} counts.", nameof(destination));
        }

        var capacity = MaxTokens;
        var tokens = ArrayPool<int>.Shared.Rent(capacity);
        try
        {
            var next = 0;
            while (next < texts.Count)
            {
                // Fill one batch: each text its own sequence, until the sequences or the batch run out.
                context.ResetBatch();
                var first = next;
                var used = 0;
                while (next < texts.Count && next - first < context.MaxSequences)
                {
                    var count = Tokenize(texts[next], tokens.AsSpan(0, capacity), next);
                    if (used + count > context.BatchCapacity && next > first)
                    {
                        break;
                    }

                    var sequence = next - first;
                    context.ClearSequence(sequence);
                    for (var i = 0; i < count; i++)
                    {
                        context.AddToBatch(tokens[i], i, sequence, wantLogits: true);
                    }

                    tokenCounts[next] = count;
                    used += count;
                    next++;
                }

                Run();
                for (var index = first; index < next; index++)
                {
                    CopyPooled(index - first, destination.Slice(index * Dimensions, Dimensions));
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(tokens);
        }
    }

    private int Tokenize(string text, Span<int> tokens, int index)
    {
        if (!context.Model.Vocabulary.TryTokenize(text, tokens, out var count, Text.TokenizeOptions.AddSpecial))
        {
            throw new ArgumentException($"Input {index} is {count} tokens; this embedder takes at most {tokens.Length} per input.", nameof(text));
        }

        return count == 0 ? throw new ArgumentException($"Input {index} produced no tokens.", nameof(text)) : count;
    }

    private void Run()
    {
        if (encoderOnly)
        {
            context.Encode();
        }
        else if (context.Decode() != 0)
        {
            throw new InferenceException("No room in the context for the texts.");
        }
    }

    private void CopyPooled(int sequence, Span<float> vector)
    {
        float* pooled;
        using (var lease = new HandleLease(context.Handle))
        {
            pooled = Llama.llama_get_embeddings_seq(context.Pointer, sequence);
        }

        if (pooled == null)
        {
            throw new InferenceException($"llama.cpp returned no pooled embedding for sequence {sequence}.");
        }

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

            Run();
            CopyPooled(0, destination[..Dimensions]);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(tokens);
        }
    }

    public void Dispose()
    {
        if (ownsContext)
        {
            context.Dispose();
        }
    }
}
