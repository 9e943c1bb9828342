namespace ModelRouter.Routing.Text;

/// <summary>
/// Splits a prompt into its instruction and the passage it supplies, at the first blank line. Whether a passage is
/// present, and what the instruction asks of it, is most of what separates summarising and extraction from open
/// questions, so the classifier keeps the two apart instead of pooling them together.
/// </summary>
public static class PromptParts
{
    /// <summary>Finds the first blank line ("\n\n", also with "\r" or other spaces between the line breaks).</summary>
    public static void Split(ReadOnlySpan<char> text, out ReadOnlySpan<char> instruction, out ReadOnlySpan<char> passage)
    {
        var from = 0;
        while (true)
        {
            var newline = text[from..].IndexOf('\n');
            if (newline < 0)
            {
                break;
            }

            var first = from + newline;
            var next = first + 1;
            while (next < text.Length && text[next] is ' ' or '\t' or '\r')
            {
                next++;
            }

            if (next < text.Length && text[next] == '\n')
            {
                instruction = text[..first];
                passage = text[(next + 1)..];
                if (!passage.Trim().IsEmpty)
                {
                    return;
                }

                // A blank line with nothing after it is trailing whitespace, not a passage.
                instruction = text;
                passage = default;
                return;
            }

            from = first + 1;
        }

        instruction = text;
        passage = default;
    }
}
