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
}
