using System.Buffers;

namespace ModelRouter.Protocol.Tests;

/// <summary>Every message kind written and read back: whole, split in two at every byte boundary, and arriving byte by byte.</summary>
public sealed class RoundTripTests
{
    [Theory]
    [MemberData(nameof(SampleFrames.Names), MemberType = typeof(SampleFrames))]
    public void Whole(string name)
    {
        var sample = SampleFrames.Get(name);
        var bytes = sample.Encode();
        AssertReadsExactlyOne(sample, new ReadOnlySequence<byte>(bytes));
    }

    [Theory]
    [MemberData(nameof(SampleFrames.Names), MemberType = typeof(SampleFrames))]
    public void SplitAtEveryByteBoundary(string name)
    {
        var sample = SampleFrames.Get(name);
        var bytes = sample.Encode();
        for (var cut = 1; cut < bytes.Length; cut++)
        {
            AssertReadsExactlyOne(sample, Segments.Split(bytes, cut));
        }

        AssertReadsExactlyOne(sample, Segments.ByteByByte(bytes));
    }

    [Theory]
    [MemberData(nameof(SampleFrames.Names), MemberType = typeof(SampleFrames))]
    public void ArrivingByteByByteNeedsMoreDataUntilTheLastByte(string name)
    {
        var sample = SampleFrames.Get(name);
        var bytes = sample.Encode();
        for (var available = 0; available < bytes.Length; available++)
        {
            var buffer = Segments.ByteByByte(bytes.AsMemory(0, available));
            var before = buffer;
            Assert.False(FrameReader.TryReadFrame(ref buffer, SampleFrames.Limits, out _));
            Assert.Equal(before.Length, buffer.Length); // nothing consumed
        }

        AssertReadsExactlyOne(sample, Segments.ByteByByte(bytes));
    }

    [Fact]
    public void AllSamplesBackToBackInOneBufferSplitEverywhere()
    {
        var output = new ArrayBufferWriter<byte>();
        foreach (var sample in SampleFrames.All)
        {
            sample.Write(output);
        }

        var bytes = output.WrittenSpan.ToArray();
        foreach (var buffer in new[] { new ReadOnlySequence<byte>(bytes), Segments.ByteByByte(bytes), Segments.Split(bytes, 7, 100, 101, 333) })
        {
            var remaining = buffer;
            foreach (var sample in SampleFrames.All)
            {
                Assert.True(FrameReader.TryReadFrame(ref remaining, SampleFrames.Limits, out var frame));
                Verify(sample, frame);
            }

            Assert.True(remaining.IsEmpty);
        }
    }

    [Fact]
    public void LargePromptAcrossManySegmentsUsesAPooledCopy()
    {
        var request = new GenerateRequest { Prompt = string.Concat(Enumerable.Repeat("0123456789abcdef", 4096)), MaxTokens = 1 };
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteGenerate(output, 99, request);
        var bytes = output.WrittenSpan.ToArray();
        var cuts = Enumerable.Range(1, (bytes.Length - 1) / 4096).Select(i => i * 4096).ToArray();
        var buffer = Segments.Split(bytes, cuts);
        Assert.True(FrameReader.TryReadFrame(ref buffer, SampleFrames.Limits, out var frame));
        Assert.False(frame.Payload.IsSingleSegment);
        using var payload = frame.LeasePayload();
        Assert.Equal(request.Prompt, MessageReader.ReadGenerate(payload.Span, SampleFrames.Limits).ToRequest().Prompt);
    }

    [Fact]
    public void TerminalFramesCarryTheFinalFlag()
    {
        foreach (var sample in SampleFrames.All)
        {
            var buffer = new ReadOnlySequence<byte>(sample.Encode());
            Assert.True(FrameReader.TryReadFrame(ref buffer, SampleFrames.Limits, out var frame));
            Assert.Equal(FrameTypes.IsTerminal(frame.Type), frame.Flags.HasFlag(FrameFlags.Final));
        }
    }

    private static void AssertReadsExactlyOne(SampleFrame sample, ReadOnlySequence<byte> buffer)
    {
        var total = buffer.Length;
        Assert.True(FrameReader.TryReadFrame(ref buffer, SampleFrames.Limits, out var frame));
        Assert.True(buffer.IsEmpty);
        Assert.Equal(total, frame.Header.FrameLength);
        Verify(sample, frame);
        Assert.False(FrameReader.TryReadFrame(ref buffer, SampleFrames.Limits, out _));
    }

    private static void Verify(SampleFrame sample, Frame frame)
    {
        Assert.Equal(sample.Type, frame.Type);
        Assert.Equal(sample.RequestId, frame.RequestId);
        using var payload = frame.LeasePayload();
        sample.Verify(payload.Span);
    }
}
