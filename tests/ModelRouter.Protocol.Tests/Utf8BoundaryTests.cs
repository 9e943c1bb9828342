using System.Text;

namespace ModelRouter.Protocol.Tests;

public sealed class Utf8BoundaryTests
{
    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("é")]
    [InlineData("☃")]
    [InlineData("a😀")]
    [InlineData("😀😀")]
    public void EveryPrefixEndsOnACodePointBoundary(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var length = 0; length <= bytes.Length; length++)
        {
            var complete = Utf8Boundary.CompletePrefixLength(bytes.AsSpan(0, length));
            Assert.InRange(complete, 0, length);
            Assert.True(System.Text.Unicode.Utf8.IsValid(bytes.AsSpan(0, complete)));
            Assert.True(length - complete < 4);
            if (length == bytes.Length)
            {
                Assert.Equal(bytes.Length, complete);
            }
        }
    }

    [Fact]
    public void IncompleteTailIsHeldBack()
    {
        var snowman = Encoding.UTF8.GetBytes("ab☃");
        Assert.Equal(2, Utf8Boundary.CompletePrefixLength(snowman.AsSpan(0, 3)));
        Assert.Equal(2, Utf8Boundary.CompletePrefixLength(snowman.AsSpan(0, 4)));
        Assert.Equal(5, Utf8Boundary.CompletePrefixLength(snowman));
    }
}
