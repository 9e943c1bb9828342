using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ModelRouter.Routing.Text;

/// <summary>
/// Splits text into lower-cased word tokens the way GloVe's corpus was tokenized (letter/digit runs, each other
/// symbol alone, English clitics such as <c>'s</c> and <c>n't</c> split off) and writes one 64-bit hash (FNV-style, over 4-char blocks) per
/// token. No string is ever created: the classifier only needs hashes (for hashed n-gram rows and for the word-vector
/// index, whose keys are the same hashes of GloVe's words). Each char is classified through a 128-entry table; ASCII
/// words are then hashed four chars per step.
/// </summary>
public static class WordTokenizer
{
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;

    private const byte Space = 0;
    private const byte Word = 1;
    private const byte Symbol = 2;
    private const byte Apostrophe = 3;

    private static readonly ulong NotClitic = HashWord("n't");

    /// <summary>Class of each ASCII char: whitespace, letter or digit, apostrophe, or another symbol.</summary>
    private static ReadOnlySpan<byte> AsciiClass =>
    [
        2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0,
        0, 2, 2, 2, 2, 2, 2, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2,
        2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2,
        2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2,
    ];

    /// <summary>
    /// Tokenizes <paramref name="text"/> into <paramref name="hashes"/>; tokens past its capacity are counted in
    /// <paramref name="total"/> but not written (long passages are truncated, not rejected).
    /// </summary>
    /// <param name="hashes">Where hashes go; an empty span only counts (no hashing).</param>
    /// <param name="stopAfter">Scanning stops once this many tokens were seen (bounds the work on huge pastes).</param>
    /// <returns>The number of hashes written.</returns>
    public static int Tokenize(ReadOnlySpan<char> text, Span<ulong> hashes, out int total, int stopAfter = int.MaxValue)
    {
        var written = 0;
        var seen = 0;
        var i = 0;
        while (i < text.Length && seen < stopAfter)
        {
            var c = text[i];
            var kind = Classify(c);
            if (kind == Space)
            {
                i++;
                continue;
            }

            ulong hash;
            if (kind == Word)
            {
                var start = i;
                var ascii = true;
                do
                {
                    ascii &= c < 128;
                    if (++i == text.Length)
                    {
                        break;
                    }

                    c = text[i];
                }
                while (Classify(c) == Word);

                var end = i;

                // "don't" -> "do" + "n't", GloVe's convention.
                var splitNot = i - start >= 2 && i + 1 < text.Length && IsApostrophe(text[i])
                    && (text[i + 1] | 0x20) == 't' && (text[i - 1] | 0x20) == 'n'
                    && (i + 2 == text.Length || Classify(text[i + 2]) != Word);
                if (splitNot)
                {
                    end--;
                    i += 2;
                }

                var word = text[start..end];
                hash = written >= hashes.Length ? 0 : ascii ? HashAsciiWord(word) : HashWord(word);
                if (splitNot)
                {
                    Emit(hash, hashes, ref written, ref seen);
                    hash = NotClitic;
                }
            }
            else if (kind == Apostrophe && i + 1 < text.Length && char.IsLetter(text[i + 1]))
            {
                // Clitics: "'s", "'re", "'ll".
                var start = i;
                i++;
                while (i < text.Length && char.IsLetter(text[i]))
                {
                    i++;
                }

                hash = written >= hashes.Length ? 0 : HashWord(text[start..i]);
            }
            else
            {
                var length = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
                hash = written >= hashes.Length ? 0 : HashWord(text.Slice(i, length));
                i += length;
            }

            Emit(hash, hashes, ref written, ref seen);
        }

        total = seen;
        return written;
    }

    /// <summary>The hash <see cref="Tokenize"/> gives a token spelled <paramref name="word"/> (case-insensitive).</summary>
    public static ulong HashWord(ReadOnlySpan<char> word)
    {
        // Lower-case into 4-char blocks and hash those, exactly as HashAsciiWord does in one step per block.
        var hash = FnvOffset;
        ulong block = 0;
        var filled = 0;
        foreach (var c in word)
        {
            block |= (ulong)ToLower(c) << (16 * filled);
            if (++filled == 4)
            {
                hash = (hash ^ block) * FnvPrime;
                block = 0;
                filled = 0;
            }
        }

        return Finish(hash, block, word.Length);
    }

    /// <summary>
    /// The fast path for runs of ASCII letters and digits: 4 chars are read as one 64-bit block and lower-cased by
    /// setting bit 5 of each (a no-op on digits), so the multiply chain is a quarter as long as a char-wise FNV.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong HashAsciiWord(ReadOnlySpan<char> word)
    {
        const ulong lowerCase = 0x0020_0020_0020_0020UL;
        var hash = FnvOffset;
        ref var first = ref Unsafe.As<char, byte>(ref MemoryMarshal.GetReference(word));
        var whole = word.Length & ~3;
        for (var at = 0; at < whole; at += 4)
        {
            hash = (hash ^ (Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref first, at * 2)) | lowerCase)) * FnvPrime;
        }

        ulong block = 0;
        for (var at = whole; at < word.Length; at++)
        {
            block |= (ulong)(word[at] | 0x20) << (16 * (at - whole));
        }

        return Finish(hash, block, word.Length);
    }

    /// <summary>Folds in the partial last block and the length, then mixes (so "ab" and "ab\0" differ, and low bits are well spread).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Finish(ulong hash, ulong block, int length)
    {
        hash = (hash ^ block ^ ((ulong)length << 56)) * FnvPrime;
        hash ^= hash >> 29;
        hash *= 0xBF58476D1CE4E5B9UL;
        return hash ^ (hash >> 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Emit(ulong hash, Span<ulong> hashes, ref int written, ref int seen)
    {
        if (written < hashes.Length)
        {
            hashes[written++] = hash;
        }

        seen++;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Classify(char c)
    {
        if (c < 128)
        {
            return AsciiClass[c];
        }

        return char.IsWhiteSpace(c) ? Space : char.IsLetterOrDigit(c) ? Word : IsApostrophe(c) ? Apostrophe : Symbol;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static char ToLower(char c)
    {
        if (c < 128)
        {
            return (uint)(c - 'A') <= 'Z' - 'A' ? (char)(c | 0x20) : c;
        }

        return IsApostrophe(c) ? '\'' : char.ToLowerInvariant(c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsApostrophe(char c) => c == '\'' || c == '\u2019';
}
