using System.Runtime.CompilerServices;
using System.Text;
using ModelRouter.Runtime.Inference;

namespace ModelRouter.Runtime.Generation;

/// <summary>Single-request generation over a context: a span-based callback form and an async stream of text.</summary>
public static class TextGenerator
{
    /// <summary>Handles one piece of generated UTF-8 text (complete characters; valid only during the call).</summary>
    public delegate void TextSink(ReadOnlySpan<byte> utf8);

    /// <summary>
    /// Generates on the calling thread, handing each step's text to <paramref name="onText"/> without allocating.
    /// Cancellation ends the generation with <see cref="FinishReason.Cancelled"/> (it does not throw).
    /// </summary>
    public static GenerationResult Generate(InferenceContext context, GenerationRequest request, TextSink? onText, CancellationToken cancellation = default)
    {
        using var generator = new BatchedGenerator(context);
        var sequence = generator.Start(request, cancellation);
        while (!sequence.IsFinished)
        {
            generator.Step();
            if (!sequence.NewText.IsEmpty)
            {
                onText?.Invoke(sequence.NewText);
            }
        }

        return GenerationResult.From(sequence);
    }

    /// <summary>
    /// Streams the generated text as it is produced (one string per step that produced text). Decoding runs on the
    /// enumerating thread. Cancelling the token stops generation and ends the stream with OperationCanceledException.
    /// </summary>
    public static async IAsyncEnumerable<string> GenerateAsync(
        InferenceContext context,
        GenerationRequest request,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        using var generator = new BatchedGenerator(context);
        var sequence = generator.Start(request, cancellation);
        while (!sequence.IsFinished)
        {
            await Task.Yield(); // let the consumer's continuation run between decode steps
            generator.Step();
            if (!sequence.NewText.IsEmpty)
            {
                yield return Encoding.UTF8.GetString(sequence.NewText);
            }
        }

        cancellation.ThrowIfCancellationRequested();
    }
}
