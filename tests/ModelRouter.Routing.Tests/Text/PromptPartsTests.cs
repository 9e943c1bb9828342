using ModelRouter.Routing.Text;

namespace ModelRouter.Routing.Tests.Text;

public sealed class PromptPartsTests
{
    [Theory]
    [InlineData("Summarize this\n\nThe passage.", "Summarize this", "The passage.")]
    [InlineData("Summarize this\r\n\r\nThe passage.", "Summarize this\r", "The passage.")]
    [InlineData("Line one\nline two\n  \nPassage", "Line one\nline two", "Passage")]
    [InlineData("No passage at all", "No passage at all", "")]
    [InlineData("Trailing blank\n\n  ", "Trailing blank\n\n  ", "")]
    public void SplitsAtTheFirstBlankLine(string text, string instruction, string passage)
    {
        PromptParts.Split(text, out var i, out var p);
        Assert.Equal(instruction, i.ToString());
        Assert.Equal(passage, p.ToString());
    }
}
