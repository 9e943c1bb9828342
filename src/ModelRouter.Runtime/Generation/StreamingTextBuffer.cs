namespace ModelRouter.Runtime.Generation;

/// <summary>
/// Turns a sequence's token pieces into output text: withholds an incomplete UTF-8 character and any tail that
/// could still become a stop string, and cuts the output before a stop string once it appears. Buffers are sized
/// once per sequence, so steady-state generation allocates nothing here.
/// </summary>
internal sealed class StreamingTextBuffer
{
    private const int MaxPieceBytes = 256;

    private readonly byte[][] stops;
    private readonly byte[] pending;
    private readonly byte[] emitted;
    private int pendingCount;
    private int emittedCount;

    public StreamingTextBuffer(IReadOnlyList<string> stopStrings)
    {
        stops = new byte[stopStrings.Count][];
        var longest = 0;
        for (var i = 0; i < stops.Length; i++)
        {
            stops[i] = System.Text.Encoding.UTF8.GetBytes(stopStrings[i]);
            longest = Math.Max(longest, stops[i].Length);
        }

        // Held back at most: a stop string's prefix or 3 bytes of a UTF-8 character, plus one new piece.
        pending = new byte[longest + 4 + MaxPieceBytes];
        emitted = new byte[pending.Length];
    }

    /// <summary>Text released since <see cref="BeginStep"/>.</summary>
    public ReadOnlySpan<byte> Emitted => emitted.AsSpan(0, emittedCount);

    public void BeginStep() => emittedCount = 0;

    /// <summary>Adds a piece; returns true when a stop string has appeared (output is cut before it).</summary>
    public bool Append(ReadOnlySpan<byte> piece)
    {
        piece.CopyTo(pending.AsSpan(pendingCount));
        pendingCount += piece.Length;
        var text = pending.AsSpan(0, pendingCount);

        var cut = -1;
        foreach (var stop in stops)
        {
            var at = text.IndexOf(stop);
            if (at >= 0 && (cut < 0 || at < cut))
            {
                cut = at;
            }
        }

        if (cut >= 0)
        {
            Release(cut);
            pendingCount = 0;
            return true;
        }

        var hold = Math.Max(IncompleteUtf8Tail(text), LongestStopPrefixSuffix(text));
        Release(pendingCount - hold);
        return false;
    }

    /// <summary>Releases everything still held (the sequence ended for another reason than a stop string).</summary>
    public void Flush() => Release(pendingCount);

    private void Release(int count)
    {
        pending.AsSpan(0, count).CopyTo(emitted.AsSpan(emittedCount));
        emittedCount += count;
        pending.AsSpan(count, pendingCount - count).CopyTo(pending);
        pendingCount -= count;
    }

    private int LongestStopPrefixSuffix(ReadOnlySpan<byte> text)
    {
        var best = 0;
        foreach (var stop in stops)
        {
            for (var length = Math.Min(stop.Length - 1, text.Length); length > best; length--)
            {
                if (text[^length..].SequenceEqual(stop.AsSpan(0, length)))
                {
                    best = length;
                    break;
                }
            }
        }

        return best;
    }

    /// <summary>Bytes at the end that start a UTF-8 character whose continuation bytes have not arrived yet.</summary>
    private static int IncompleteUtf8Tail(ReadOnlySpan<byte> text)
    {
        for (var back = 1; back <= Math.Min(3, text.Length); back++)
        {
            var b = text[^back];
            if ((b & 0xC0) == 0x80)
            {
                continue; // continuation byte: keep looking for the lead byte
            }

            var needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return needed > back ? back : 0;
        }

        return 0;
    }
}
