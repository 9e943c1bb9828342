using System.Buffers;
using ModelRouter.Interop;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Text;

namespace ModelRouter.Runtime.Generation;

/// <summary>
/// Generates several requests at once in one context: each <see cref="Step"/> is a single llama_decode carrying
/// one new token of every generating sequence plus as much pending prompt as the batch has room for, so
/// concurrent requests for one model share each pass over the weights. Not thread-safe: one driver calls Step.
/// </summary>
public sealed unsafe class BatchedGenerator : IDisposable
{
    private readonly InferenceContext context;
    private readonly Vocabulary vocabulary;
    private readonly GenerationSequence?[] slots;

    public BatchedGenerator(InferenceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        this.context = context;
        vocabulary = context.Model.Vocabulary;
        slots = new GenerationSequence?[context.MaxSequences];
    }

    /// <summary>Sequences started and not yet finished.</summary>
    public int ActiveCount { get; private set; }

    /// <summary>Whether another sequence can start now.</summary>
    public bool HasFreeSlot => ActiveCount < slots.Length;

    /// <summary>Tokenizes the prompt and admits the request; its tokens go in from the next <see cref="Step"/>.</summary>
    /// <exception cref="ArgumentException">Invalid request (bad limits, invalid text).</exception>
    /// <exception cref="PromptTooLongException">The prompt does not fit a sequence's share of the context.</exception>
    /// <exception cref="InvalidOperationException">All sequence slots are busy (check <see cref="HasFreeSlot"/>).</exception>
    public GenerationSequence Start(GenerationRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        if (!HasFreeSlot)
        {
            throw new InvalidOperationException($"All {slots.Length} sequences of this context are busy.");
        }

        var options = (request.AddBeginningOfSequence ? TokenizeOptions.AddSpecial : TokenizeOptions.None)
            | (request.ParseSpecialTokens ? TokenizeOptions.ParseSpecial : TokenizeOptions.None);
        var capacity = context.SequenceCapacity;
        var prompt = ArrayPool<int>.Shared.Rent(Math.Min(capacity, 4096));
        if (!vocabulary.TryTokenize(request.Prompt.AsSpan(), prompt, out var count, options))
        {
            ArrayPool<int>.Shared.Return(prompt);
            if (count >= capacity)
            {
                throw new PromptTooLongException(count, capacity - 1);
            }

            prompt = ArrayPool<int>.Shared.Rent(count);
            vocabulary.TryTokenize(request.Prompt.AsSpan(), prompt, out count, options);
        }

        if (count == 0)
        {
            ArrayPool<int>.Shared.Return(prompt);
            throw new ArgumentException("The prompt produced no tokens (empty prompt without BOS).", nameof(request));
        }

        if (count >= capacity)
        {
            ArrayPool<int>.Shared.Return(prompt);
            throw new PromptTooLongException(count, capacity - 1);
        }

        var sampler = TokenSampler.Create(request.Sampling, vocabulary);
        // The last prompt token is always decoded again: its logits give the first sampled token.
        var slot = context.Prefixes.Acquire(prompt.AsSpan(0, count), count - 1, out var reused);
        if (slot < 0)
        {
            sampler.Dispose();
            ArrayPool<int>.Shared.Return(prompt);
            throw new InvalidOperationException($"All {slots.Length} sequences of this context are held (by another generator over it).");
        }

        var sequence = new GenerationSequence(slot, request, prompt, count, reused, sampler, cancellation)
        {
            RenderedSpecialTokens = PreservedTokenIds(request.PreservedTokens),
        };
        slots[slot] = sequence;
        ActiveCount++;
        return sequence;
    }

    /// <summary>The ids of the texts in <paramref name="texts"/> that are one token each (llama-server's preserved tokens).</summary>
    private int[] PreservedTokenIds(IReadOnlyList<string> texts)
    {
        if (texts.Count == 0)
        {
            return [];
        }

        var ids = new List<int>(texts.Count);
        Span<int> tokens = stackalloc int[2];
        foreach (var text in texts)
        {
            if (vocabulary.TryTokenize(text.AsSpan(), tokens, out var count, TokenizeOptions.ParseSpecial) && count == 1)
            {
                ids.Add(tokens[0]);
            }
        }

        return [.. ids];
    }

    /// <summary>
    /// One decode over all active sequences, then one sampled token for each sequence that reached generation.
    /// Finished sequences leave their slot; read each sequence's <see cref="GenerationSequence.NewText"/> after.
    /// </summary>
    public void Step()
    {
        context.ResetBatch();
        var capacity = context.SequenceCapacity;
        foreach (var sequence in slots)
        {
            if (sequence is null)
            {
                continue;
            }

            sequence.BeginStep();
            if (sequence.Cancellation.IsCancellationRequested)
            {
                Finish(sequence, FinishReason.Cancelled);
                continue;
            }

            if (sequence.NextToken >= 0 && !sequence.PromptPending)
            {
                if (sequence.Position >= capacity)
                {
                    Finish(sequence, FinishReason.ContextFull);
                    continue;
                }

                sequence.BatchIndex = context.AddToBatch(sequence.NextToken, sequence.Position++, sequence.Id, wantLogits: true);
            }
        }

        // Prompts fill what room the generating sequences left; a long prompt takes several steps.
        foreach (var sequence in slots)
        {
            if (sequence is null || !sequence.PromptPending)
            {
                continue;
            }

            while (sequence.PromptPending && context.BatchCount < context.BatchCapacity)
            {
                // A resumed sequence replays what it had decoded; its next token is sampled already, so no logits.
                var last = sequence.PromptCursor == sequence.ReplayEnd - 1 && sequence.NextToken < 0;
                var index = context.AddToBatch(sequence.PromptToken(sequence.PromptCursor++), sequence.Position++, sequence.Id, wantLogits: last);
                if (last)
                {
                    sequence.BatchIndex = index;
                }
            }
        }

        if (context.BatchCount == 0)
        {
            return;
        }

        if (context.Decode() == 1)
        {
            // No KV room (cannot happen while every sequence stays within its share; kept as a safety net). The batch
            // went in for none of them: their cells are not what their tokens say, so nothing of them is kept.
            foreach (var sequence in slots)
            {
                if (sequence is { BatchIndex: >= 0 } s)
                {
                    Finish(s, FinishReason.ContextFull, keepCells: false);
                }
            }

            return;
        }

        SampleAll();
    }

    private void SampleAll()
    {
        Span<byte> piece = stackalloc byte[256];
        foreach (var sequence in slots)
        {
            if (sequence is null || sequence.BatchIndex < 0)
            {
                continue;
            }

            int token;
            using (var lease = new HandleLease(context.Handle))
            {
                token = Llama.llama_sampler_sample(sequence.Sampler.Pointer, context.Pointer, sequence.BatchIndex);
            }

            sequence.BatchIndex = -1;
            if (vocabulary.IsEndOfGeneration(token))
            {
                sequence.MarkFirstTokenIfNone();
                Finish(sequence, FinishReason.EndOfGeneration);
                continue;
            }

            vocabulary.TryGetPiece(token, piece, out var length, renderSpecial: sequence.RendersSpecial(token));
            if (sequence.AddGenerated(piece[..Math.Min(length, piece.Length)]))
            {
                Finish(sequence, FinishReason.StopString);
            }
            else if (sequence.GeneratedTokenCount >= sequence.Request.MaxTokens)
            {
                Finish(sequence, FinishReason.MaxTokens);
            }
            else
            {
                sequence.RecordSampled(token);
                sequence.NextToken = token;
            }
        }
    }

    /// <summary>
    /// Frees a generating sequence's slot so that another request can start (fair service inside a batch). The sequence
    /// keeps its sampler, output and the tokens it decoded; <see cref="Resume"/> replays them into a slot of this or any
    /// later context of the same model, and it goes on exactly where it stopped. Its cells stay as an idle slot of the
    /// prefix cache: if no other request took them meanwhile, the resume replays nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">It is not generating in this generator (prompt still going in, finished, parked).</exception>
    public void Park(GenerationSequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.Id < 0 || !ReferenceEquals(slots[sequence.Id], sequence) || sequence.PromptPending || sequence.NextToken < 0)
        {
            throw new InvalidOperationException("Only a sequence that is generating in this generator can be parked.");
        }

        context.Prefixes.Retain(sequence.Id, sequence.DecodedTokens);
        slots[sequence.Id] = null;
        ActiveCount--;
        sequence.ReplayEnd = sequence.Position; // every token decoded so far; the sampled next one follows the replay
        sequence.Id = -1;
    }

    /// <summary>Gives a parked sequence a free slot again; its decoded tokens go back in from the next <see cref="Step"/>.</summary>
    /// <exception cref="InvalidOperationException">It is not parked, or every slot is busy.</exception>
    public void Resume(GenerationSequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (!sequence.IsParked)
        {
            throw new InvalidOperationException("Only a parked sequence can resume.");
        }

        // Its next token is sampled already, so every decoded token may come from the cells (no logits needed).
        var reused = 0;
        var slot = HasFreeSlot ? context.Prefixes.Acquire(sequence.ReplayTokens, sequence.ReplayEnd, out reused) : -1;
        if (slot < 0)
        {
            throw new InvalidOperationException($"All {slots.Length} sequences of this context are busy.");
        }

        sequence.Id = slot;
        sequence.PromptCursor = reused;
        sequence.Position = reused;
        slots[slot] = sequence;
        ActiveCount++;
    }

    /// <summary>Ends a parked sequence without resuming it (cancelled, or the server stops); frees its buffers.</summary>
    public static void Abandon(GenerationSequence sequence, FinishReason reason)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.IsParked)
        {
            sequence.Finish(reason);
        }
    }

    /// <summary>
    /// Ends a sequence and frees its slot. With <paramref name="keepCells"/> its cells, which hold exactly the tokens it
    /// decoded, stay for prefix reuse; otherwise (their content unknown) they are cleared.
    /// </summary>
    private void Finish(GenerationSequence sequence, FinishReason reason, bool keepCells = true)
    {
        if (keepCells)
        {
            context.Prefixes.Retain(sequence.Id, sequence.DecodedTokens); // before Finish returns the token buffer
        }
        else
        {
            context.Prefixes.Forget(sequence.Id);
        }

        sequence.Finish(reason);
        slots[sequence.Id] = null;
        ActiveCount--;
    }

    /// <summary>
    /// Cancels every active sequence; their KV cells are cleared (a decode may have failed half-way, so nothing they hold
    /// is kept), unless the context is already gone.
    /// </summary>
    public void Dispose()
    {
        foreach (var sequence in slots)
        {
            if (sequence is null)
            {
                continue;
            }

            try
            {
                Finish(sequence, FinishReason.Cancelled, keepCells: false);
            }
            catch (ObjectDisposedException)
            {
                // The context (or its model) was disposed first, taking the KV cells with it: nothing left to free.
                slots[sequence.Id] = null;
                ActiveCount--;
            }
        }
    }
}
