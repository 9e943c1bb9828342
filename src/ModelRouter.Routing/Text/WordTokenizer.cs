using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace ModelRouter.Routing.Text;

/// <summary>
/// Splits text into lower-cased word tokens the way GloVe's corpus was tokenized (letter/digit runs, each other
/// symbol alone, English clitics such as <c>'s</c> and <c>n't</c> split off) and writes one 64-bit hash per token. No
/// string is ever created: the classifier only needs hashes (for hashed n-gram rows and for the word-vector index,
/// whose keys are the same hashes of GloVe's words). ASCII text, nearly every prompt, is narrowed to bytes and
/// scanned with 64-byte bitmasks; a word of up to 8 chars is hashed as one 64-bit load. Other text goes char by char.
/// </summary>
public static unsafe class WordTokenizer
{
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    private const byte Space = 0;
    private const byte Word = 1;
    private const byte Symbol = 2;
    private const byte Apostrophe = 3;

    /// <summary>
    /// Chars per piece of the ASCII scanner (a stack buffer): prompts of a few hundred words are one piece; a long
    /// paste is scanned piece by piece.
    /// </summary>
    private const int AsciiPieceChars = 2048;

    /// <summary>
    /// Spaces after each piece: the last 64-byte mask block, 8-byte hash reads past a token and the clitic look-ahead
    /// all stay inside the buffer.
    /// </summary>
    private const int AsciiPadding = 72;

    /// <summary>64-bit mask words per piece, plus one sentinel.</summary>
    private const int AsciiMaskWords = (AsciiPieceChars / 64) + 1;

    /// <summary>Bit 5 of each byte: ORed into letters it lower-cases them, into digits (and the apostrophe) it changes nothing.</summary>
    private const ulong LowerCaseMask = 0x2020_2020_2020_2020UL;

    /// <summary>
    /// Class bits of the nibble tables: digit (high nibble 3, low 0-9), letter (high 4 or 6, low 1-F; high 5 or 7,
    /// low 0-A), whitespace (high 0, low 9-D; high 1, low C-F; high 2, low 0).
    /// </summary>
    private const byte WordClasses = 1 | 2 | 4;

    private const byte SpaceClasses = 8 | 16 | 32;

    private static readonly ulong NotClitic = HashWord("n't");

    private static readonly SearchValues<char> AsciiWhitespace = SearchValues.Create("\t\n\v\f\r\u001C\u001D\u001E\u001F ");

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
    [SkipLocalsInit]
    public static int Tokenize(ReadOnlySpan<char> text, Span<ulong> hashes, out int total, int stopAfter = int.MaxValue)
    {
        var written = 0;
        var seen = 0;
        var at = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            // ASCII text goes through the vectorised scanner one piece at a time; each piece ends at a whitespace char,
            // so no token (nor any look-ahead of the clitic rules) crosses a piece boundary and the pieces tokenize
            // exactly as the whole would. A piece that is not ASCII is left, with the rest, to the char-wise scanner.
            var buffer = stackalloc byte[AsciiPieceChars + AsciiPadding];
            while (at < text.Length && seen < stopAfter)
            {
                var piece = text[at..];
                if (piece.Length > AsciiPieceChars)
                {
                    var cut = piece[..AsciiPieceChars].LastIndexOfAny(AsciiWhitespace);
                    if (cut < 0)
                    {
                        break;
                    }

                    piece = piece[..(cut + 1)];
                }

                if (Ascii.FromUtf16(piece, new Span<byte>(buffer, AsciiPieceChars), out _) != OperationStatus.Done)
                {
                    break;
                }

                new Span<byte>(buffer + piece.Length, AsciiPadding).Fill((byte)' ');
                fixed (ulong* output = hashes)
                {
                    ScanAscii(buffer, piece.Length, output, hashes.Length, ref written, ref seen, stopAfter);
                }

                at += piece.Length;
            }
        }

        if (at < text.Length && seen < stopAfter)
        {
            ScanChars(text[at..], hashes, ref written, ref seen, stopAfter);
        }

        total = seen;
        return written;
    }

    /// <summary>
    /// The char-wise scanner: any text, including non-ASCII letters, other apostrophes and surrogate pairs. Pure ASCII
    /// text gives the same tokens through <see cref="ScanAscii"/>, which is several times faster.
    /// </summary>
    internal static void ScanChars(ReadOnlySpan<char> text, Span<ulong> hashes, ref int written, ref int seen, int stopAfter)
    {
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
                do
                {
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
                hash = written >= hashes.Length ? 0 : HashWord(word);
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
    }

    /// <summary>
    /// The ASCII scanner over <paramref name="length"/> bytes of <paramref name="text"/>, which is followed by at least
    /// <see cref="AsciiPadding"/> spaces. First, per 64 bytes, two bitmasks: where tokens start (a letter/digit after a
    /// non-letter/digit, or any symbol) and where letter/digit runs end. Then each token is two bit scans and a hash:
    /// none of the per-char branches of <see cref="ScanChars"/>, which mispredict at every word end.
    /// </summary>
    [SkipLocalsInit]
    private static void ScanAscii(byte* text, int length, ulong* hashes, int capacity, ref int writtenTotal, ref int seenTotal, int stopAfter)
    {
        var blocks = (length + 63) >> 6;
        var words = stackalloc ulong[AsciiMaskWords];
        var starts = stackalloc ulong[AsciiMaskWords];
        var ends = stackalloc ulong[AsciiMaskWords];
        for (var k = 0; k < blocks; k++)
        {
            ClassifyBlock(text + (k << 6), out words[k], out var spaces);
            starts[k] = ~words[k] & ~spaces;
        }

        // Word runs may cross block boundaries: a run starts where the previous bit (carried in from the block before)
        // is clear, and ends where the next bit (carried in from the block after) is clear.
        ulong previousTop = 0;
        for (var k = 0; k < blocks; k++)
        {
            var w = words[k];
            var nextBottom = k + 1 < blocks ? words[k + 1] & 1 : 0;
            starts[k] |= w & ~((w << 1) | previousTop);
            ends[k] = w & ~((w >> 1) | (nextBottom << 63));
            previousTop = w >> 63;
        }

        // A sentinel end, so that looking for the next run end never runs off the array.
        ends[blocks] = 1;
        var cursor = new AsciiCursor { StartBits = starts[0], EndBits = ends[0], Written = writtenTotal, Seen = seenTotal };
        while (true)
        {
            var start = ScanTokens(text, blocks, words, starts, ends, hashes, capacity, stopAfter, ref cursor, out var run);
            if (start < 0)
            {
                break;
            }

            // A word followed by an apostrophe ("don't", "it's") or an apostrophe itself: the clitic rules, rarely.
            var next = ScanApostrophe(text, length, start, run, starts, out var firstHash, out var secondHash, out var count);
            for (var t = 0; t < count; t++)
            {
                if (cursor.Written < capacity)
                {
                    hashes[cursor.Written++] = t == 0 ? firstHash : secondHash;
                }

                cursor.Seen++;
            }

            // Drop the starts and run ends the clitic rules consumed.
            cursor.StartBlock = cursor.EndBlock = next >> 6;
            if (cursor.StartBlock >= blocks)
            {
                break;
            }

            cursor.StartBits = starts[cursor.StartBlock] & (ulong.MaxValue << next);
            cursor.EndBits = ends[cursor.EndBlock] & (ulong.MaxValue << next);
        }

        writtenTotal = cursor.Written;
        seenTotal = cursor.Seen;
    }

    /// <summary>
    /// The hot loop of <see cref="ScanAscii"/>: hashes tokens until the piece ends, <paramref name="stopAfter"/> tokens
    /// were seen (returns -1), or a token needs the clitic rules (returns its start; <paramref name="run"/> is its
    /// word-run length, 0 for an apostrophe). It calls nothing, so its state stays in registers.
    /// </summary>
    /// <remarks>
    /// Two cursors, over token starts and over run ends, are each advanced by clearing their lowest bit: finding the
    /// next token does not wait on the previous token's hash, so tokens overlap in the pipeline. A word start takes the
    /// next run end and a symbol takes none; that choice is made with masks, because a branch on it would mispredict at
    /// nearly every punctuation mark.
    /// </remarks>
    private static int ScanTokens(byte* text, int blocks, ulong* words, ulong* starts, ulong* ends, ulong* hashes, int capacity, int stopAfter, ref AsciiCursor cursor, out int run)
    {
        var startBlock = cursor.StartBlock;
        var startBits = cursor.StartBits;
        var endBlock = cursor.EndBlock;
        var endBits = cursor.EndBits;
        var written = cursor.Written;
        var seen = cursor.Seen;
        var found = -1;
        run = 0;
        while (seen < stopAfter)
        {
            while (startBits == 0)
            {
                if (++startBlock >= blocks)
                {
                    goto Done;
                }

                startBits = starts[startBlock];
            }

            while (endBits == 0)
            {
                endBits = ends[++endBlock];
            }

            var start = (startBlock << 6) + BitOperations.TrailingZeroCount(startBits);
            startBits &= startBits - 1;
            var wordMask = 0UL - ((words[startBlock] >> start) & 1);
            var runEnd = (endBlock << 6) + BitOperations.TrailingZeroCount(endBits) + 1;
            var tokenLength = 1 + ((runEnd - start - 1) & (int)wordMask);
            endBits ^= endBits & (0UL - endBits) & wordMask;
            if (text[start + (tokenLength & (int)wordMask)] == (byte)'\'')
            {
                found = start;
                run = tokenLength & (int)wordMask;
                break;
            }

            if (written < capacity)
            {
                // Letters and digits are lower-cased by setting bit 5 (a no-op on digits); a symbol is hashed as it is.
                hashes[written++] = HashAscii(text + start, tokenLength, LowerCaseMask & wordMask);
            }

            seen++;
        }

    Done:
        cursor.StartBlock = startBlock;
        cursor.StartBits = startBits;
        cursor.EndBlock = endBlock;
        cursor.EndBits = endBits;
        cursor.Written = written;
        cursor.Seen = seen;
        return found;
    }

    /// <summary>
    /// The clitic rules of <see cref="ScanChars"/> for a token at <paramref name="pos"/> that is an apostrophe or a word
    /// run of <paramref name="run"/> bytes followed by one: one or two tokens (<paramref name="count"/>). Returns where
    /// scanning goes on; a clitic followed by digits ("'s5") marks where the digits start in <paramref name="starts"/>.
    /// </summary>
    private static int ScanApostrophe(byte* text, int length, int pos, int run, ulong* starts, out ulong firstHash, out ulong secondHash, out int count)
    {
        secondHash = 0;
        count = 1;
        if (run == 0)
        {
            // Clitics: "'s", "'re", "'ll"; an apostrophe before anything but a letter is a symbol of its own.
            var end = pos + 1;
            while (end < length && IsLetterByte(text[end]))
            {
                end++;
            }

            if (end > pos + 1 && IsWordByte(text[end]))
            {
                starts[end >> 6] |= 1UL << end;
            }

            firstHash = HashAscii(text + pos, end - pos, end > pos + 1 ? LowerCaseMask : 0UL);
            return end;
        }

        // "don't" -> "do" + "n't", GloVe's convention.
        var i = pos + run;
        var splitNot = run >= 2 && i + 1 < length && (text[i + 1] | 0x20) == 't' && (text[i - 1] | 0x20) == 'n'
            && !IsWordByte(text[i + 2]);
        firstHash = HashAscii(text + pos, splitNot ? run - 1 : run, LowerCaseMask);
        if (!splitNot)
        {
            return i;
        }

        secondHash = NotClitic;
        count = 2;
        return i + 2;
    }

    /// <summary>
    /// The hash of an ASCII token of <paramref name="length"/> bytes, lower-cased by ORing <paramref name="lower"/>:
    /// up to 8 bytes it is one 64-bit load, masked to the token, and a finaliser, with no branch on the length. May
    /// read up to 8 bytes past the token (the padding).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong HashAscii(byte* token, int length, ulong lower)
    {
        var block = Unsafe.ReadUnaligned<ulong>(token) | lower;
        if (length <= 8)
        {
            return Finish(block & (ulong.MaxValue >> (64 - (8 * length))), length);
        }

        return HashLongAscii(token, length, lower, block);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong HashLongAscii(byte* token, int length, ulong lower, ulong hash)
    {
        var at = 8;
        for (; length - at > 8; at += 8)
        {
            hash = Combine(hash, Unsafe.ReadUnaligned<ulong>(token + at) | lower);
        }

        var last = (Unsafe.ReadUnaligned<ulong>(token + at) | lower) & (ulong.MaxValue >> (64 - (8 * (length - at))));
        return Finish(Combine(hash, last), length);
    }

    /// <summary>
    /// Bitmasks of the 64 bytes at <paramref name="at"/>: <paramref name="words"/> has bit i set when byte i is an ASCII
    /// letter or digit, <paramref name="spaces"/> when it is whitespace (tab to carriage return, 28 to 32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ClassifyBlock(byte* at, out ulong words, out ulong spaces)
    {
        if (Avx2.IsSupported)
        {
            // Nibble tables (a byte's class is the AND of its low nibble's and its high nibble's bits): one shuffle per
            // nibble classifies 32 bytes into letter/digit and whitespace at once.
            var low = Vector256.Create(
                (byte)37, 7, 7, 7, 7, 7, 7, 7, 7, 15, 14, 10, 26, 26, 18, 18,
                37, 7, 7, 7, 7, 7, 7, 7, 7, 15, 14, 10, 26, 26, 18, 18);
            var high = Vector256.Create(
                (byte)8, 16, 32, 1, 2, 4, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0,
                8, 16, 32, 1, 2, 4, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0);
            var nibble = Vector256.Create((byte)0x0F);
            ulong wordBits = 0;
            ulong spaceBits = 0;
            for (var half = 0; half < 2; half++)
            {
                var v = Vector256.Load(at + (half * 32));
                var classes = Avx2.Shuffle(low, v & nibble) & Avx2.Shuffle(high, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & nibble);
                var notWord = Vector256.Equals(classes & Vector256.Create((byte)WordClasses), Vector256<byte>.Zero);
                var notSpace = Vector256.Equals(classes & Vector256.Create((byte)SpaceClasses), Vector256<byte>.Zero);
                wordBits |= (ulong)~notWord.ExtractMostSignificantBits() << (half * 32);
                spaceBits |= (ulong)~notSpace.ExtractMostSignificantBits() << (half * 32);
            }

            words = wordBits;
            spaces = spaceBits;
            return;
        }

        words = 0;
        spaces = 0;
        for (var part = 0; part < 4; part++)
        {
            var v = Vector128.Load(at + (part * 16));
            var letters = Vector128.LessThanOrEqual((v | Vector128.Create((byte)0x20)) - Vector128.Create((byte)'a'), Vector128.Create((byte)('z' - 'a')));
            var digits = Vector128.LessThanOrEqual(v - Vector128.Create((byte)'0'), Vector128.Create((byte)9));
            var controls = Vector128.LessThanOrEqual(v - Vector128.Create((byte)9), Vector128.Create((byte)4));
            var separators = Vector128.LessThanOrEqual(v - Vector128.Create((byte)28), Vector128.Create((byte)4));
            words |= (ulong)(letters | digits).ExtractMostSignificantBits() << (part * 16);
            spaces |= (ulong)(controls | separators).ExtractMostSignificantBits() << (part * 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsWordByte(byte b) => IsLetterByte(b) || (uint)(b - '0') <= 9;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsLetterByte(byte b) => (uint)((b | 0x20) - 'a') <= 'z' - 'a';

    /// <summary>The hash <see cref="Tokenize"/> gives a token spelled <paramref name="word"/> (case-insensitive).</summary>
    public static ulong HashWord(ReadOnlySpan<char> word)
    {
        // ASCII words, and words whose only other char is the typographic apostrophe (lower-cased to "'"), get the
        // ASCII scanner's hash, over the lower-cased chars packed 8 to a block: "it’s" splits into the same tokens as "it's".
        foreach (var c in word)
        {
            if (c >= 128 && c != '\u2019')
            {
                return HashUtf16Word(word);
            }
        }

        ulong hash = 0;
        for (var at = 0; at < word.Length; at += 8)
        {
            ulong block = 0;
            var count = Math.Min(8, word.Length - at);
            for (var b = 0; b < count; b++)
            {
                block |= (ulong)ToLower(word[at + b]) << (8 * b);
            }

            hash = at == 0 ? block : Combine(hash, block);
        }

        return Finish(hash, word.Length);
    }

    /// <summary>Words with non-ASCII chars: FNV over lower-cased 4-char blocks, then the finaliser.</summary>
    private static ulong HashUtf16Word(ReadOnlySpan<char> word)
    {
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

        return Finish((hash ^ block) * FnvPrime, word.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Combine(ulong hash, ulong block) => (BitOperations.RotateLeft(hash, 23) ^ block) * Golden;

    /// <summary>Folds in the length (so "ab" and "ab\0" differ), then MurmurHash3's finaliser spreads every bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Finish(ulong hash, int length) => Mix(hash ^ ((ulong)length * Golden));

    /// <summary>MurmurHash3's 64-bit finaliser: every input bit affects every output bit (shared with the feature rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xFF51AFD7ED558CCDUL;
        x ^= x >> 33;
        x *= 0xC4CEB9FE1A85EC53UL;
        return x ^ (x >> 33);
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

    /// <summary>Where <see cref="ScanTokens"/> stopped: the two bit cursors and the counts.</summary>
    private struct AsciiCursor
    {
        public int StartBlock;
        public ulong StartBits;
        public int EndBlock;
        public ulong EndBits;
        public int Written;
        public int Seen;
    }
}
