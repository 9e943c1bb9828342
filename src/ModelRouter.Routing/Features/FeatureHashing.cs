using System.Runtime.CompilerServices;

namespace ModelRouter.Routing.Features;

/// <summary>
/// Turns instruction token hashes into hashed sparse feature rows. Each family mixes in its own constant so that
/// a word, the same word as a bigram half and the same word as the first word land in unrelated rows.
/// </summary>
internal static class FeatureHashing
{
    private const ulong UnigramSeed = 0x9E3779B97F4A7C15UL;
    private const ulong BigramSeed = 0xC2B2AE3D27D4EB4FUL;
    private const ulong TrigramSeed = 0x165667B19E3779F9UL;
    private const ulong FirstWordSeed = 0x27D4EB2F165667C5UL;
    private const ulong ShapeSeed = 0x85EBCA77C2B2AE63UL;
    private const ulong PassageSeed = 0xD6E8FEB86659FD93UL;

    private const int MaxLengthBucket = 12;

    /// <summary>The most features <see cref="Extract"/> can write for <paramref name="maxTokens"/> instruction tokens.</summary>
    public static int MaxFeatures(int maxTokens) => 3 * maxTokens + 4;

    /// <summary>Writes the row index of every feature of the instruction into <paramref name="rows"/>.</summary>
    /// <returns>The number of rows written.</returns>
    public static int Extract(
        ReadOnlySpan<ulong> tokens,
        int instructionTotal,
        bool hasPassage,
        int passageTotal,
        FeatureFamilies families,
        int hashBits,
        Span<int> rows)
    {
        var n = 0;
        var shift = 64 - hashBits;
        if ((families & FeatureFamilies.Unigrams) != 0)
        {
            for (var i = 0; i < tokens.Length; i++)
            {
                rows[n++] = Row(Mix(tokens[i] ^ UnigramSeed), shift);
            }
        }

        if ((families & FeatureFamilies.Bigrams) != 0)
        {
            for (var i = 1; i < tokens.Length; i++)
            {
                rows[n++] = Row(Mix(Combine(tokens[i - 1], tokens[i]) ^ BigramSeed), shift);
            }
        }

        if ((families & FeatureFamilies.Trigrams) != 0)
        {
            for (var i = 2; i < tokens.Length; i++)
            {
                rows[n++] = Row(Mix(Combine(Combine(tokens[i - 2], tokens[i - 1]), tokens[i]) ^ TrigramSeed), shift);
            }
        }

        if ((families & FeatureFamilies.FirstWord) != 0 && tokens.Length > 0)
        {
            rows[n++] = Row(Mix(tokens[0] ^ FirstWordSeed), shift);
        }

        if ((families & FeatureFamilies.Shape) != 0)
        {
            rows[n++] = Row(Mix(ShapeSeed + (ulong)LengthBucket(instructionTotal)), shift);
            rows[n++] = Row(Mix(PassageSeed + (hasPassage ? 1UL + (ulong)LengthBucket(passageTotal) : 0UL)), shift);
        }

        return n;
    }

    private static int LengthBucket(int count) => Math.Min(MaxLengthBucket, 32 - int.LeadingZeroCount(count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Combine(ulong a, ulong b) => (a * 0x100000001B3UL) ^ (b + 0x9E3779B97F4A7C15UL + (a << 6) + (a >> 2));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Row(ulong mixed, int shift) => (int)(mixed >> shift);

    /// <summary>MurmurHash3's 64-bit finaliser: every input bit affects the top bits used as the row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xFF51AFD7ED558CCDUL;
        x ^= x >> 33;
        x *= 0xC4CEB9FE1A85EC53UL;
        x ^= x >> 33;
        return x;
    }
}
