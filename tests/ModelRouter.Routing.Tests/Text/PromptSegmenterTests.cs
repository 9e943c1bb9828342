using ModelRouter.Routing.Text;

namespace ModelRouter.Routing.Tests.Text;

/// <summary>What the request is and what was pasted: code blocks, code-like lines, documents, quotes, LaTeX.</summary>
public sealed class PromptSegmenterTests
{
    [Fact]
    public void FencedCodeAfterTheQuestionIsPastedAndItsLanguageIsFound()
    {
        const string text = "Why does this crash?\n\n```python\ndef f(x):\n    return x[0]\n```\n";
        var (ask, pasted, layout) = Analyze(text);
        Assert.Equal("Why does this crash?", ask);
        Assert.Contains("def f(x):", pasted, StringComparison.Ordinal);
        Assert.True(layout.CodeLines >= 2);
        Assert.Equal("python", text.Substring(layout.FenceLanguageStart, layout.FenceLanguageLength));
    }

    [Fact]
    public void AQuestionAfterPastedCodeIsTheRequest()
    {
        const string text = "Here is my code:\n\n    int main() {\n        return 0;\n    }\n\nWhat does this do?";
        var (ask, pasted, layout) = Analyze(text);
        Assert.Contains("What does this do?", ask, StringComparison.Ordinal);
        Assert.Contains("Here is my code:", ask, StringComparison.Ordinal);
        Assert.DoesNotContain("return 0", ask, StringComparison.Ordinal);
        Assert.Contains("return 0;", pasted, StringComparison.Ordinal);
        Assert.True(layout.HasCode);
    }

    [Fact]
    public void CodeLinesWithoutABlankLineOrFenceAreStillCode()
    {
        const string text = "fix this\nfor (int i = 0; i < n; i++) {\n    sum += a[i];\n}";
        var (ask, pasted, layout) = Analyze(text);
        Assert.True(layout.CodeLines >= 3, $"{layout.CodeLines} code lines");
        Assert.Equal(3, layout.CodeLineStartCount);
        _ = ask;
        _ = pasted;
    }

    [Fact]
    public void ALongDocumentFollowedByAShortRequestPutsTheRequestLast()
    {
        var document = string.Join(' ', Enumerable.Repeat("The council met on Monday and discussed the budget for the coming year.", 12));
        var text = document + "\n\nSummarize the text above in two sentences.";
        var (ask, pasted, layout) = Analyze(text);
        Assert.Equal("Summarize the text above in two sentences.", ask);
        Assert.StartsWith("The council met", pasted, StringComparison.Ordinal);
        Assert.Equal(1, layout.PastedProse);
        Assert.False(layout.HasCode);
    }

    [Fact]
    public void AnInstructionThenAPassageKeepsTheInstructionFirst()
    {
        const string text = "Given this text about Paris, when was the tower built?\n\nThe Eiffel Tower was built from 1887 to 1889. It is in Paris.";
        var (ask, pasted, _) = Analyze(text);
        Assert.Equal("Given this text about Paris, when was the tower built?", ask);
        Assert.StartsWith("The Eiffel Tower", pasted, StringComparison.Ordinal);
    }

    [Fact]
    public void InlineLatexStaysInTheRequestAndIsCounted()
    {
        const string text = "Find all $x$ such that $x^2 - 5x + 6 = 0$ and compute \\frac{1}{x}.";
        var (ask, pasted, layout) = Analyze(text);
        Assert.Equal(text, ask);
        Assert.Equal(string.Empty, pasted);
        Assert.True(layout.MathMarks >= 6, $"{layout.MathMarks} math marks");
        Assert.Equal(layout.MathMarks, layout.AskMathMarks);
    }

    [Fact]
    public void DisplayMathIsAMathBlock()
    {
        const string text = "Evaluate this integral:\n\n$$\\int_0^1 x^2 \\, dx$$\n\nShow the steps.";
        var (_, pasted, layout) = Analyze(text);
        Assert.Equal(1, layout.MathBlocks);
        Assert.Contains("\\int", pasted, StringComparison.Ordinal);
    }

    [Fact]
    public void QuotedLinesAreCounted()
    {
        const string text = "What does he mean here?\n\n> I will not be able to make it,\n> unless the trains run again.";
        var (ask, pasted, layout) = Analyze(text);
        Assert.Equal("What does he mean here?", ask);
        Assert.Equal(2, layout.QuoteLines);
        Assert.StartsWith(">", pasted, StringComparison.Ordinal);
    }

    [Fact]
    public void TextPastTheScanLimitIsPastedAndNotRead()
    {
        var text = "Summarize this.\n\n" + new string('a', PromptSegmenter.ScanLimit * 2);
        var (ask, _, layout) = Analyze(text);
        Assert.Equal("Summarize this.", ask);
        Assert.True(layout.Truncated);
    }

    [Fact]
    public void ProseIsNotCode()
    {
        Assert.False(PromptSegmenter.IsCodeLike("Tell me about the history of Rome (briefly).", "Tell me about the history of Rome (briefly)."));
        Assert.True(PromptSegmenter.IsCodeLike("x = compute(a, b);", "x = compute(a, b);"));
        Assert.True(PromptSegmenter.IsCodeLike("def main(args):", "def main(args):"));
    }

    private static (string Ask, string Pasted, Snapshot Layout) Analyze(string text)
    {
        Span<int> ask = stackalloc int[2 * PromptSegmenter.MaxRanges];
        Span<int> pasted = stackalloc int[2 * PromptSegmenter.MaxRanges];
        Span<int> starts = stackalloc int[PromptSegmenter.MaxCodeLineStarts];
        var layout = new PromptLayout { Ask = ask, Pasted = pasted, CodeLineStarts = starts };
        PromptSegmenter.Analyze(text, ref layout);
        return (Join(text, ask, layout.AskCount), Join(text, pasted, layout.PastedCount), new Snapshot(
            layout.CodeLines, layout.HasCode, layout.CodeLineStartCount, layout.FenceLanguageStart, layout.FenceLanguageLength, layout.MathMarks,
            layout.AskMathMarks, layout.MathBlocks, layout.QuoteLines, layout.PastedProse, layout.Truncated));
    }

    private static string Join(string text, ReadOnlySpan<int> ranges, int count)
    {
        var parts = new List<string>();
        for (var i = 0; i < count; i++)
        {
            parts.Add(text.Substring(ranges[2 * i], Math.Min(ranges[(2 * i) + 1], text.Length - ranges[2 * i])));
        }

        return string.Join("\n\n", parts);
    }

    /// <summary>The layout's counts, copied out of the ref struct.</summary>
    private sealed record Snapshot(
        int CodeLines, bool HasCode, int CodeLineStartCount, int FenceLanguageStart, int FenceLanguageLength, int MathMarks,
        int AskMathMarks, int MathBlocks, int QuoteLines, int PastedProse, bool Truncated);
}
