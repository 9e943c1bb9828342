namespace ModelRouter.Protocol;

/// <summary>
/// Token pieces can end inside a multi-byte UTF-8 sequence; a token chunk must not. A generator keeps the tail that
/// <see cref="CompletePrefixLength"/> leaves out and prepends it to the next piece.
/// </summary>
public static class Utf8Boundary
{
    /// <summary>
    /// Length of the longest prefix of <paramref name="utf8"/> that does not end inside an incomplete sequence. Only the
    /// last (at most three) bytes are examined; invalid bytes elsewhere are the caller's concern.
    /// </summary>
    public static int CompletePrefixLength(ReadOnlySpan<byte> utf8)
    {
        // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
        var i = utf8.Length - 1;
        var continuation = 0;
        while (i >= 0 && continuation < 3 && (utf8[i] & 0xC0) == 0x80)
        {
            i--;
            continuation++;
        }

        if (i < 0)
        {
            return utf8.Length;
        }

        var lead = utf8[i];
        var needed = lead switch
        {
            < 0x80 => 1,
            >= 0xC0 and < 0xE0 => 2,
            >= 0xE0 and < 0xF0 => 3,
            >= 0xF0 and < 0xF8 => 4,
            _ => 1,
        };
        return continuation + 1 >= needed ? utf8.Length : i;
    }
}
