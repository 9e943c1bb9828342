using System.Buffers;

namespace ModelRouter.Protocol.Tests;

/// <summary>Builds multi-segment sequences, as a pipe hands them out when a frame straddles its buffers.</summary>
internal static class Segments
{
    /// <summary>The bytes as one sequence whose segments end at <paramref name="cuts"/> (ascending offsets).</summary>
    public static ReadOnlySequence<byte> Split(ReadOnlyMemory<byte> bytes, params int[] cuts)
    {
        if (cuts.Length == 0)
        {
            return new ReadOnlySequence<byte>(bytes);
        }

        Segment? first = null;
        Segment? last = null;
        var start = 0;
        foreach (var cut in cuts.Append(bytes.Length))
        {
            var segment = new Segment(bytes[start..cut]);
            if (first is null)
            {
                first = segment;
            }
            else
            {
                last!.Append(segment);
            }

            last = segment;
            start = cut;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>One segment per byte.</summary>
    public static ReadOnlySequence<byte> ByteByByte(ReadOnlyMemory<byte> bytes) =>
        bytes.Length <= 1 ? new ReadOnlySequence<byte>(bytes) : Split(bytes, Enumerable.Range(1, bytes.Length - 1).ToArray());

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public void Append(Segment next)
        {
            next.RunningIndex = RunningIndex + Memory.Length;
            Next = next;
        }
    }
}
