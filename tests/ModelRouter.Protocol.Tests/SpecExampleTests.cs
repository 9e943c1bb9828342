using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Protocol.Tests;

/// <summary>
/// docs/protocol.md and the code agree: every <c>```hex NAME</c> block of the specification decodes to exactly one
/// frame with the values the sample of that name was written with, and the writers produce those bytes exactly.
/// </summary>
public sealed partial class SpecExampleTests
{
    [GeneratedRegex(@"^```hex (?<name>[a-z-]+)\n(?<hex>.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex HexBlock();

    private static string SpecPath() => Path.Combine(TestRepository.Root, "docs", "protocol.md");

    private static Dictionary<string, byte[]> Examples()
    {
        var text = File.ReadAllText(SpecPath()).ReplaceLineEndings("\n");
        var examples = new Dictionary<string, byte[]>();
        foreach (Match match in HexBlock().Matches(text))
        {
            var bytes = match.Groups["hex"].Value
                .Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
                .Select(h => byte.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture))
                .ToArray();
            examples.Add(match.Groups["name"].Value, bytes);
        }

        return examples;
    }

    [Fact]
    public void EveryMessageKindHasAnExampleInTheSpecification()
    {
        var examples = Examples();
        var missing = SampleFrames.All.Where(s => !examples.ContainsKey(s.Name)).Select(s => s.Name).ToList();
        Assert.True(missing.Count == 0, "docs/protocol.md lacks examples for: " + string.Join(", ", missing));
        Assert.All(Enum.GetValues<FrameType>(), t => Assert.Contains(SampleFrames.All, s => s.Type == t));
    }

    [Fact]
    public void EveryExampleDecodesToTheDocumentedValues()
    {
        foreach (var (name, bytes) in Examples())
        {
            var sample = SampleFrames.All.SingleOrDefault(s => s.Name == name);
            Assert.True(sample is not null, $"example '{name}' names no sample");
            foreach (var buffer in new[] { new ReadOnlySequence<byte>(bytes), Segments.ByteByByte(bytes) })
            {
                var remaining = buffer;
                Assert.True(FrameReader.TryReadFrame(ref remaining, ProtocolLimits.Default, out var frame), name);
                Assert.True(remaining.IsEmpty, name);
                Assert.Equal(sample.Type, frame.Type);
                Assert.Equal(sample.RequestId, frame.RequestId);
                using var payload = frame.LeasePayload();
                sample.Verify(payload.Span);
            }
        }
    }

    [Fact]
    public void TheWritersProduceTheExampleBytes()
    {
        var examples = Examples();
        foreach (var sample in SampleFrames.All)
        {
            if (examples.TryGetValue(sample.Name, out var bytes))
            {
                var written = sample.Encode();
                Assert.True(bytes.AsSpan().SequenceEqual(written), $"example '{sample.Name}' differs from the writer; it writes:\n{Dump(sample)}");
            }
        }
    }

    /// <summary>Set MR_WRITE_SPEC_EXAMPLES=path to write every sample as a spec block (to refresh docs/protocol.md).</summary>
    [Fact]
    public void WriteExamplesWhenAsked()
    {
        var path = Environment.GetEnvironmentVariable("MR_WRITE_SPEC_EXAMPLES");
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        File.WriteAllText(path, string.Concat(SampleFrames.All.Select(Dump)));
    }

    private static string Dump(SampleFrame sample)
    {
        var bytes = sample.Encode();
        var text = new StringBuilder();
        text.Append("```hex ").Append(sample.Name).Append('\n');
        for (var i = 0; i < bytes.Length; i += 16)
        {
            text.AppendJoin(' ', bytes.Skip(i).Take(16).Select(b => b.ToString("x2", CultureInfo.InvariantCulture))).Append('\n');
        }

        return text.Append("```\n\n").ToString();
    }
}
