using System.Diagnostics;
using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Inference;

/// <summary>
/// The two raw measurements of llama.cpp's llama-bench, done through our context and its native batch so that the
/// figures can be compared one for one: prompt processing (pp: random tokens in batches of the context's batch size,
/// logits of the last token only) and token generation (tg: single-token decodes from an empty context, each one
/// waited for). Token ids are random, as in llama-bench, because throughput does not depend on them; the first token
/// is BOS when the model adds one. Both start from an empty KV cache (every sequence is cleared first) and time only
/// the decodes. Sampling is not part of either: <c>bench-decode</c> measures it separately through the generator.
/// </summary>
public static unsafe class DecodeBenchmark
{
    /// <summary>Decodes <paramref name="tokens"/> prompt tokens of sequence 0 in batches of <see cref="InferenceContext.BatchCapacity"/>.</summary>
    /// <returns>The time from the first decode to the end of the last one (llama_synchronize).</returns>
    /// <exception cref="InferenceException">A decode failed or the context has no room for the tokens.</exception>
    public static TimeSpan ProcessPrompt(InferenceContext context, int tokens, Random random)
    {
        Validate(context, tokens, random);
        Clear(context);
        var vocabulary = context.Model.Vocabulary;
        var start = Stopwatch.GetTimestamp();
        var processed = 0;
        while (processed < tokens)
        {
            var count = Math.Min(tokens - processed, context.BatchCapacity);
            context.ResetBatch();
            for (var i = 0; i < count; i++)
            {
                var position = processed + i;
                var token = position == 0 && vocabulary.AddsBeginningOfSequence ? vocabulary.BeginningOfSequence : random.Next(vocabulary.Count);
                context.AddToBatch(token, position, 0, wantLogits: i == count - 1);
            }

            DecodeOrThrow(context);
            processed += count;
        }

        Synchronize(context);
        return Stopwatch.GetElapsedTime(start);
    }

    /// <summary>Decodes <paramref name="tokens"/> tokens of sequence 0 one at a time, each with its logits, each waited for.</summary>
    /// <returns>The time from the first decode to the end of the last one.</returns>
    /// <exception cref="InferenceException">A decode failed or the context has no room for the tokens.</exception>
    public static TimeSpan GenerateTokens(InferenceContext context, int tokens, Random random)
    {
        Validate(context, tokens, random);
        Clear(context);
        var vocabulary = context.Model.Vocabulary;
        var token = vocabulary.AddsBeginningOfSequence ? vocabulary.BeginningOfSequence : random.Next(vocabulary.Count);
        var start = Stopwatch.GetTimestamp();
        for (var position = 0; position < tokens; position++)
        {
            context.ResetBatch();
            context.AddToBatch(token, position, 0, wantLogits: true);
            DecodeOrThrow(context);
            Synchronize(context);
            token = random.Next(vocabulary.Count);
        }

        return Stopwatch.GetElapsedTime(start);
    }

    /// <summary>
    /// The same single-token decodes as <see cref="GenerateTokens"/>, but made exactly as llama-bench makes them
    /// (llama_batch_get_one, no batch of ours): run alternately with <see cref="GenerateTokens"/> on one context, it
    /// isolates what our API itself costs per token from whatever else the machine is doing.
    /// </summary>
    /// <returns>The time from the first decode to the end of the last one.</returns>
    /// <exception cref="InferenceException">A decode failed or the context has no room for the tokens.</exception>
    public static TimeSpan GenerateTokensDirect(InferenceContext context, int tokens, Random random)
    {
        Validate(context, tokens, random);
        Clear(context);
        var vocabulary = context.Model.Vocabulary;
        var token = vocabulary.AddsBeginningOfSequence ? vocabulary.BeginningOfSequence : random.Next(vocabulary.Count);
        using var lease = new HandleLease(context.Handle);
        var pointer = context.Pointer;
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < tokens; i++)
        {
            var status = Llama.llama_decode(pointer, Llama.llama_batch_get_one(&token, 1));
            if (status != 0)
            {
                throw new InferenceException($"llama_decode failed with status {status}: {NativeLog.TakeRecentErrors() ?? "no error text"}");
            }

            Llama.llama_synchronize(pointer);
            token = random.Next(vocabulary.Count);
        }

        return Stopwatch.GetElapsedTime(start);
    }

    private static void Validate(InferenceContext context, int tokens, Random random)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        if (tokens > context.SequenceCapacity)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"The context holds {context.SequenceCapacity} tokens per sequence.");
        }
    }

    private static void Clear(InferenceContext context)
    {
        using var lease = new HandleLease(context.Handle);
        Llama.llama_memory_clear(Llama.llama_get_memory(context.Pointer), false);
    }

    private static void Synchronize(InferenceContext context)
    {
        using var lease = new HandleLease(context.Handle);
        Llama.llama_synchronize(context.Pointer);
    }

    private static void DecodeOrThrow(InferenceContext context)
    {
        if (context.Decode() != 0)
        {
            throw new InferenceException("llama_decode found no room in the KV cache for the benchmark batch.");
        }
    }
}
