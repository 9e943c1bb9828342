using System.Buffers;
using System.Text;
using System.Text.Unicode;
using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Text;

/// <summary>
/// A model's tokenizer. Every method writes into caller-provided spans and allocates nothing; when a destination
/// is too small the Try methods return false with the size that is needed.
/// </summary>
public sealed unsafe class Vocabulary
{
    /// <summary>UTF-16 input up to this many chars is transcoded on the stack; longer input uses a pooled buffer.</summary>
    private const int StackTranscodeChars = 256;

    private readonly SafeModelHandle owner;
    private readonly llama_vocab* vocab;

    internal Vocabulary(SafeModelHandle owner, llama_vocab* vocab)
    {
        this.owner = owner;
        this.vocab = vocab;
        Count = Llama.llama_vocab_n_tokens(vocab);
        BeginningOfSequence = Llama.llama_vocab_bos(vocab);
        EndOfSequence = Llama.llama_vocab_eos(vocab);
        EndOfTurn = Llama.llama_vocab_eot(vocab);
        AddsBeginningOfSequence = Llama.llama_vocab_get_add_bos(vocab);
    }

    /// <summary>Number of tokens.</summary>
    public int Count { get; }

    /// <summary>BOS token id, or -1 (LLAMA_TOKEN_NULL) when the vocabulary has none.</summary>
    public int BeginningOfSequence { get; }

    public int EndOfSequence { get; }

    public int EndOfTurn { get; }

    /// <summary>Whether <see cref="TokenizeOptions.AddSpecial"/> prepends BOS for this model.</summary>
    public bool AddsBeginningOfSequence { get; }

    internal llama_vocab* Pointer => vocab;

    /// <summary>True for tokens that end generation (EOS, EOT and the model's other end-of-generation tokens).</summary>
    public bool IsEndOfGeneration(int token)
    {
        using var lease = new HandleLease(owner);
        return Llama.llama_vocab_is_eog(vocab, token);
    }

    /// <summary>Tokenizes UTF-8 text into <paramref name="destination"/>.</summary>
    /// <returns>False when <paramref name="destination"/> is too small; <paramref name="count"/> is then the size needed.</returns>
    /// <exception cref="ArgumentException">The input is not valid UTF-8 (the message gives the byte offset).</exception>
    public bool TryTokenize(ReadOnlySpan<byte> utf8, Span<int> destination, out int count, TokenizeOptions options = TokenizeOptions.None)
    {
        if (!Utf8.IsValid(utf8))
        {
            ThrowInvalidUtf8(utf8);
        }

        using var lease = new HandleLease(owner);
        fixed (byte* text = utf8)
        fixed (int* tokens = destination)
        {
            var n = Llama.llama_tokenize(
                vocab,
                (sbyte*)text,
                utf8.Length,
                tokens,
                destination.Length,
                (options & TokenizeOptions.AddSpecial) != 0,
                (options & TokenizeOptions.ParseSpecial) != 0);
            if (n == int.MinValue)
            {
                // llama.cpp's "overflow" marker: more tokens than an int32 can count.
                throw new ArgumentException("The input is too long to tokenize.", nameof(utf8));
            }

            count = Math.Abs(n);
            return n >= 0;
        }
    }

    /// <summary>Tokenizes UTF-16 text (transcoded to UTF-8 on the stack or in a pooled buffer).</summary>
    /// <exception cref="ArgumentException">The input holds an unpaired surrogate.</exception>
    public bool TryTokenize(ReadOnlySpan<char> text, Span<int> destination, out int count, TokenizeOptions options = TokenizeOptions.None)
    {
        var maxBytes = Encoding.UTF8.GetMaxByteCount(text.Length);
        byte[]? rented = null;
        var buffer = text.Length <= StackTranscodeChars
            ? stackalloc byte[StackTranscodeChars * 3 + 3]
            : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            var status = Utf8.FromUtf16(text, buffer, out var read, out var written, replaceInvalidSequences: false);
            if (status != OperationStatus.Done)
            {
                throw new ArgumentException($"The text holds an unpaired UTF-16 surrogate at char {read}.", nameof(text));
            }

            return TryTokenize(buffer[..written], destination, out count, options);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Convenience: tokenizes into a new array (allocates; use the span overloads on hot paths).</summary>
    public int[] Tokenize(string text, TokenizeOptions options = TokenizeOptions.None)
    {
        ArgumentNullException.ThrowIfNull(text);
        Span<int> small = stackalloc int[256];
        if (TryTokenize(text.AsSpan(), small, out var count, options))
        {
            return small[..count].ToArray();
        }

        var tokens = new int[count];
        TryTokenize(text.AsSpan(), tokens, out count, options);
        return tokens;
    }

    /// <summary>Writes the UTF-8 text of <paramref name="token"/>.</summary>
    /// <returns>False when <paramref name="utf8"/> is too small; <paramref name="count"/> is then the size needed.</returns>
    public bool TryGetPiece(int token, Span<byte> utf8, out int count, bool renderSpecial = false)
    {
        using var lease = new HandleLease(owner);
        fixed (byte* buffer = utf8)
        {
            var n = Llama.llama_token_to_piece(vocab, token, (sbyte*)buffer, utf8.Length, 0, renderSpecial);
            count = Math.Abs(n);
            return n >= 0;
        }
    }

    /// <summary>Turns tokens back into UTF-8 text.</summary>
    /// <returns>False when <paramref name="utf8"/> is too small; <paramref name="count"/> is then the size needed.</returns>
    public bool TryDetokenize(ReadOnlySpan<int> tokens, Span<byte> utf8, out int count, bool removeSpecial = false, bool renderSpecial = false)
    {
        using var lease = new HandleLease(owner);
        fixed (int* t = tokens)
        fixed (byte* buffer = utf8)
        {
            var n = Llama.llama_detokenize(vocab, t, tokens.Length, (sbyte*)buffer, utf8.Length, removeSpecial, renderSpecial);
            count = Math.Abs(n);
            return n >= 0;
        }
    }

    /// <summary>Convenience: detokenizes into a string (allocates).</summary>
    public string Detokenize(ReadOnlySpan<int> tokens, bool removeSpecial = false, bool renderSpecial = false)
    {
        Span<byte> small = stackalloc byte[1024];
        if (TryDetokenize(tokens, small, out var count, removeSpecial, renderSpecial))
        {
            return Encoding.UTF8.GetString(small[..count]);
        }

        var large = new byte[count];
        TryDetokenize(tokens, large, out count, removeSpecial, renderSpecial);
        return Encoding.UTF8.GetString(large, 0, count);
    }

    private static void ThrowInvalidUtf8(ReadOnlySpan<byte> utf8)
    {
        var offset = 0;
        while (offset < utf8.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(utf8[offset..], out _, out var consumed) != OperationStatus.Done)
            {
                break;
            }

            offset += consumed;
        }

        throw new ArgumentException($"The input is not valid UTF-8 (first invalid sequence at byte {offset}).", nameof(utf8));
    }
}
