using ModelRouter.Routing.Text;

namespace ModelRouter.Routing.Tests.Text;

public sealed class WordTokenizerTests
{
    private static ulong[] Tokens(string text)
    {
        var buffer = new ulong[256];
        var n = WordTokenizer.Tokenize(text, buffer, out var total);
        Assert.Equal(n, total);
        return buffer[..n];
    }

    private static ulong[] Hashes(params string[] words) => words.Select(w => WordTokenizer.HashWord(w)).ToArray();

    [Fact]
    public void AShortBufferGetsTheFirstHashesAndTheFullCount()
    {
        const string text = "It's a long passage, don't you think? Ünïcode words and ASCII words alike.";
        var full = Tokens(text);
        var buffer = new ulong[3];
        Assert.Equal(3, WordTokenizer.Tokenize(text, buffer, out var total));
        Assert.Equal(full.Length, total);
        Assert.Equal(full[..3], buffer);
        Assert.Equal(0, WordTokenizer.Tokenize(text, default, out var counted));
        Assert.Equal(full.Length, counted);
    }

    [Fact]
    public void SplitsWordsAndSymbolsAndLowercases()
    {
        Assert.Equal(Hashes("write", "a", "c", "#", "function", ",", "please", "!"), Tokens("Write a C# function, PLEASE!"));
    }

    [Fact]
    public void SplitsCliticsTheWayGloveDoes()
    {
        Assert.Equal(Hashes("it", "'s", "do", "n't", "we", "'re"), Tokens("It's don't we're"));
        Assert.Equal(Hashes("ca", "n't"), Tokens("can\u2019t")); // the Penn Treebank split GloVe was trained on
    }

    [Fact]
    public void KeepsNonAsciiLettersInWordsAndSurrogatePairsWhole()
    {
        Assert.Equal(Hashes("café", "naïve"), Tokens("Café NAÏVE"));
        Assert.Equal(Hashes("hi", "\U0001F600"), Tokens("hi\U0001F600"));
    }

    [Fact]
    public void CountsTokensPastTheBufferAndStopsWhenAsked()
    {
        var buffer = new ulong[2];
        Assert.Equal(2, WordTokenizer.Tokenize("one two three four", buffer, out var total));
        Assert.Equal(4, total);
        Assert.Equal(2, WordTokenizer.Tokenize("one two three four", new ulong[8], out total, stopAfter: 2));
        Assert.Equal(2, total);
    }

    [Fact]
    public void EmptyAndWhitespaceGiveNoTokens()
    {
        Assert.Empty(Tokens(string.Empty));
        Assert.Empty(Tokens(" \t\r\n "));
    }

    [Fact]
    public void TheAsciiScannerAgreesWithTheCharScannerOnRandomText()
    {
        // The ASCII fast path (bitmasks, 64-bit word loads) must give exactly the char-wise scanner's tokens, counts
        // and hashes, including clitics next to digits, long words, runs across 64-byte blocks and text cut into pieces.
        string[] parts =
        [
            "don't", "CAN'T", "it's", "'s", "'", "n't", "won't", "Hello", "WORLD", "a", "ab", "abcdefgh", "abcdefghi",
            "supercalifragilisticexpialidocious", "1234", "x1", ",", ".", "?", "#", "@", "`", "~", "C#", "e.g.", "'re5",
            "rock'n'roll", "O'Neil", "n'", "'t", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u001C", "\0", "{", "_",
        ];
        parts = [.. parts, .. Enumerable.Range(0, 128).Select(c => ((char)c).ToString())]; // every ASCII class
        var random = new Random(20261123);
        var fast = new ulong[700];
        var slow = new ulong[700];
        for (var iteration = 0; iteration < 20_000; iteration++)
        {
            var builder = new System.Text.StringBuilder();
            var target = iteration % 200 == 0 ? 5000 : random.Next(0, 300);
            while (builder.Length < target)
            {
                builder.Append(parts[random.Next(parts.Length)]);
                if (random.Next(3) == 0)
                {
                    builder.Append(' ');
                }
            }

            var text = builder.ToString();
            var capacity = random.Next(4) == 0 ? random.Next(0, 10) : fast.Length;
            var stopAfter = random.Next(4) == 0 ? random.Next(0, 50) : int.MaxValue;
            var written = WordTokenizer.Tokenize(text, fast.AsSpan(0, capacity), out var total, stopAfter);
            int slowWritten = 0, slowSeen = 0;
            WordTokenizer.ScanChars(text, slow.AsSpan(0, capacity), ref slowWritten, ref slowSeen, stopAfter);
            Assert.True(
                written == slowWritten && total == slowSeen && fast.AsSpan(0, written).SequenceEqual(slow.AsSpan(0, slowWritten)),
                $"'{text}' (capacity {capacity}, stop after {stopAfter}): {written}/{total} vs {slowWritten}/{slowSeen}");
        }
    }

    [Fact]
    public void NonAsciiTextAfterALongAsciiPieceTokenizesAsAWhole()
    {
        // The first pieces go through the ASCII scanner, the rest char by char: the tokens must not depend on where that happens.
        var text = string.Concat(Enumerable.Repeat("write a short story, don't stop ", 200)) + "Café NAÏVE it’s";
        var buffer = new ulong[2000];
        var written = WordTokenizer.Tokenize(text, buffer, out var total);
        var expected = new ulong[2000];
        int slowWritten = 0, slowSeen = 0;
        WordTokenizer.ScanChars(text, expected, ref slowWritten, ref slowSeen, int.MaxValue);
        Assert.Equal(slowSeen, total);
        Assert.Equal(expected[..slowWritten], buffer[..written]);
        Assert.Equal(Hashes("café", "naïve", "it", "'s"), buffer[(written - 4)..written]);
    }
}
