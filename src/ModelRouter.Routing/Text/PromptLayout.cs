using System.Buffers;
using System.Runtime.CompilerServices;

namespace ModelRouter.Routing.Text;

/// <summary>What kind of material a paragraph of a prompt is.</summary>
internal enum BlockKind
{
    /// <summary>Ordinary sentences.</summary>
    Prose = 0,

    /// <summary>A fenced block, or lines that mostly look like source code.</summary>
    Code = 1,

    /// <summary>Lines quoted with '&gt;' (e-mail and forum style).</summary>
    Quote = 2,

    /// <summary>Display math: <c>$$</c>, <c>\[</c>, <c>\begin{...}</c> lines, or lines dense in LaTeX commands.</summary>
    Math = 3,

    /// <summary>Bulleted or numbered items.</summary>
    List = 4,
}

/// <summary>
/// Where a prompt's request is and where its pasted material is. Chat prompts paste code, documents, quotes and
/// equations around a short request ("what does this do?", "summarise the article below"); what is asked decides the
/// task, and what is pasted mostly decides only that something was pasted. <see cref="PromptSegmenter.Analyze"/> fills
/// this from one scan over the first <see cref="PromptSegmenter.ScanLimit"/> chars, without allocating.
/// </summary>
internal ref struct PromptLayout
{
    /// <summary>Char ranges (start, length) of the request, in text order.</summary>
    public Span<int> Ask;

    /// <summary>Char ranges (start, length) of pasted material, in text order.</summary>
    public Span<int> Pasted;

    public int AskCount;

    public int PastedCount;

    /// <summary>Lines in fenced blocks or code-like lines.</summary>
    public int CodeLines;

    /// <summary>Start of the fence's info word (<c>```python</c>), or -1.</summary>
    public int FenceLanguageStart;

    public int FenceLanguageLength;

    /// <summary>Starts of the first <see cref="PromptSegmenter.MaxCodeLineStarts"/> code lines (their first token is a language marker).</summary>
    public Span<int> CodeLineStarts;

    public int CodeLineStartCount;

    /// <summary>LaTeX commands (<c>\frac</c>), dollar signs, carets and underscores next to a letter or digit.</summary>
    public int MathMarks;

    /// <summary>Math marks inside the request (inline LaTeX in a question).</summary>
    public int AskMathMarks;

    public int QuoteLines;

    public int ListLines;

    /// <summary>Display-math paragraphs.</summary>
    public int MathBlocks;

    /// <summary>Prose paragraphs that were classed as pasted (a document to read).</summary>
    public int PastedProse;

    /// <summary>Whether the text went past <see cref="PromptSegmenter.ScanLimit"/> (the rest counts as pasted).</summary>
    public bool Truncated;

    public readonly bool HasCode => CodeLines > 0;

    public readonly bool HasPasted => PastedCount > 0;
}

/// <summary>Fills a <see cref="PromptLayout"/>: a line scan, then a choice of which prose paragraphs are the request.</summary>
internal static class PromptSegmenter
{
    /// <summary>
    /// Chars scanned: about 3,000 words, past a 2k-token prompt; anything later is pasted material by then, so it is
    /// counted as one pasted range but not read. This bounds a decision's cost on a huge paste.
    /// </summary>
    public const int ScanLimit = 16_384;

    /// <summary>Paragraphs tracked; later paragraphs merge into the last one.</summary>
    public const int MaxParagraphs = 48;

    /// <summary>Ranges each of <see cref="PromptLayout.Ask"/> and <see cref="PromptLayout.Pasted"/> must hold (2 ints each).</summary>
    public const int MaxRanges = MaxParagraphs + 1;

    public const int MaxCodeLineStarts = 24;

    /// <summary>A first prose paragraph longer than this, followed by a short one, is the pasted document, not the request.</summary>
    private const int LongParagraphChars = 600;

    /// <summary>A trailing paragraph this short after pasted material is (part of) the request.</summary>
    private const int ShortParagraphChars = 400;

    private struct Paragraph
    {
        public int Start;
        public int End;
        public int Lines;
        public int Code;
        public int Quote;
        public int List;
        public int Math;
        public int MathMarks;
        public bool Fenced;
        public bool EndsWithQuestion;
        public BlockKind Kind;
    }

    [InlineArray(MaxParagraphs)]
    private struct Paragraphs
    {
        private Paragraph first;
    }

    /// <summary>
    /// Splits <paramref name="text"/> into request and pasted ranges. <paramref name="layout"/>'s spans must be at least
    /// 2 × <see cref="MaxRanges"/> (Ask, Pasted) and <see cref="MaxCodeLineStarts"/> (CodeLineStarts) long.
    /// </summary>
    [SkipLocalsInit]
    public static void Analyze(ReadOnlySpan<char> text, ref PromptLayout layout)
    {
        layout.AskCount = layout.PastedCount = layout.CodeLines = layout.CodeLineStartCount = 0;
        layout.MathMarks = layout.AskMathMarks = layout.QuoteLines = layout.ListLines = layout.PastedProse = layout.MathBlocks = 0;
        layout.FenceLanguageStart = -1;
        layout.FenceLanguageLength = 0;
        var scanned = text.Length > ScanLimit ? text[..ScanLimit] : text;
        layout.Truncated = scanned.Length < text.Length;

        var paragraphs = default(Paragraphs);
        var count = 0;
        var open = false;
        var inFence = false;
        var at = 0;
        while (at < scanned.Length)
        {
            var newline = scanned[at..].IndexOf('\n');
            var end = newline < 0 ? scanned.Length : at + newline;
            var line = scanned[at..end];
            var trimmed = line.Trim();
            var fence = trimmed.StartsWith("```") || trimmed.StartsWith("~~~");
            if (trimmed.IsEmpty && !inFence)
            {
                open = false;
            }
            else
            {
                if (fence && !inFence && open && count > 0 && !paragraphs[count - 1].Fenced)
                {
                    open = false; // a fence opens its own paragraph even without a blank line before it
                }

                if (!open)
                {
                    if (count < MaxParagraphs)
                    {
                        count++;
                        paragraphs[count - 1] = new Paragraph { Start = at };
                    }

                    open = true;
                }

                ref var p = ref paragraphs[count - 1];
                p.End = end;
                p.Lines++;
                if (fence)
                {
                    p.Fenced = true;
                    p.Code++;
                    if (!inFence && layout.FenceLanguageStart < 0)
                    {
                        var info = trimmed[3..].Trim();
                        if (!info.IsEmpty)
                        {
                            var offset = at + (line.Length - line.TrimStart().Length) + 3 + (trimmed[3..].Length - trimmed[3..].TrimStart().Length);
                            layout.FenceLanguageStart = offset;
                            layout.FenceLanguageLength = Math.Min(info.Length, 16);
                        }
                    }

                    inFence = !inFence;
                    if (!inFence)
                    {
                        open = false; // the closing fence ends the paragraph
                    }
                }
                else if (inFence || IsCodeLike(line, trimmed))
                {
                    p.Code++;
                    layout.CodeLines++;
                    if (layout.CodeLineStartCount < MaxCodeLineStarts && !trimmed.IsEmpty)
                    {
                        layout.CodeLineStarts[layout.CodeLineStartCount++] = at + (line.Length - line.TrimStart().Length);
                    }
                }
                else
                {
                    var marks = CountMathMarks(trimmed);
                    p.MathMarks += marks;
                    layout.MathMarks += marks;
                    if (trimmed[0] == '>')
                    {
                        p.Quote++;
                        layout.QuoteLines++;
                    }
                    else if (IsListItem(trimmed))
                    {
                        p.List++;
                        layout.ListLines++;
                    }

                    if (IsDisplayMath(trimmed, marks))
                    {
                        p.Math++;
                    }

                    p.EndsWithQuestion = trimmed[^1] == '?';
                }
            }

            at = end + 1;
        }

        for (var i = 0; i < count; i++)
        {
            ref var p = ref paragraphs[i];
            p.Kind = p.Fenced || p.Code * 2 > p.Lines ? BlockKind.Code
                : p.Quote * 2 > p.Lines ? BlockKind.Quote
                : p.Math * 2 > p.Lines ? BlockKind.Math
                : p.List * 2 > p.Lines && p.Lines >= 2 ? BlockKind.List
                : BlockKind.Prose;
        }

        // The request: the first prose paragraph, unless it is a long document followed by a short prose paragraph
        // (then that one); plus a short trailing prose paragraph after pasted material ("... what does this do?").
        var first = -1;
        var last = -1;
        for (var i = 0; i < count; i++)
        {
            if (paragraphs[i].Kind == BlockKind.Prose)
            {
                if (first < 0)
                {
                    first = i;
                }

                last = i;
            }
        }

        var askFirst = first;
        var askLast = -1;
        if (first >= 0 && last > first)
        {
            var lastLength = paragraphs[last].End - paragraphs[last].Start;
            var firstLength = paragraphs[first].End - paragraphs[first].Start;
            // A short last paragraph is a request when pasted material (code, quote, math) sits right before it, or when
            // it is a question after at least one passage paragraph ("Intro:", passage, "What ...?"). A plain
            // instruction-then-passage pair keeps its passage even when the passage ends with '?'.
            var afterPaste = paragraphs[last - 1].Kind != BlockKind.Prose || (paragraphs[last].EndsWithQuestion && last > first + 1);
            if (lastLength <= ShortParagraphChars && firstLength > LongParagraphChars)
            {
                askFirst = -1;
                askLast = last;
            }
            else if (lastLength <= ShortParagraphChars && afterPaste)
            {
                askLast = last;
            }
        }
        else if (first < 0 && count > 0 && paragraphs[0].Kind != BlockKind.Code)
        {
            askFirst = 0; // no prose: a list, an equation or a quote opening the prompt is the request
        }

        for (var i = 0; i < count; i++)
        {
            ref var p = ref paragraphs[i];
            if (p.Kind == BlockKind.Math)
            {
                layout.MathBlocks++;
            }

            if (i == askFirst || i == askLast)
            {
                Add(layout.Ask, ref layout.AskCount, p.Start, p.End);
                layout.AskMathMarks += p.MathMarks;
            }
            else
            {
                Add(layout.Pasted, ref layout.PastedCount, p.Start, p.End);
                if (p.Kind == BlockKind.Prose)
                {
                    layout.PastedProse++;
                }
            }
        }

        if (layout.Truncated)
        {
            Add(layout.Pasted, ref layout.PastedCount, scanned.Length, text.Length);
        }
    }

    private static void Add(Span<int> ranges, ref int count, int start, int end)
    {
        ranges[2 * count] = start;
        ranges[(2 * count) + 1] = end - start;
        count++;
    }

    /// <summary>
    /// Source-code-looking line: indented with a tab or four spaces and holding code punctuation, or ending in
    /// <c>; { } )</c>, or opening with a keyword that starts statements in common languages. Prose rarely does either.
    /// </summary>
    internal static bool IsCodeLike(ReadOnlySpan<char> line, ReadOnlySpan<char> trimmed)
    {
        if (trimmed.IsEmpty)
        {
            return false;
        }

        var lastChar = trimmed[^1];
        if (lastChar is ';' or '{' or '}')
        {
            return true;
        }

        // Symbols are only counted for lines that already look like code by their indentation, ending or first word,
        // so ordinary prose lines cost one check each.
        var indented = line.Length > 0 && (line[0] == '\t' || line.StartsWith("    "));
        var candidate = indented || lastChar == ')' || StartsWithKeyword(trimmed);
        if (!candidate)
        {
            return false;
        }

        var symbols = 0;
        var rest = trimmed;
        while (true)
        {
            var i = rest.IndexOfAny(CodeSymbols);
            if (i < 0)
            {
                break;
            }

            symbols++;
            rest = rest[(i + 1)..];
        }

        if (indented && symbols >= 2)
        {
            return true;
        }

        if (lastChar == ')' && symbols >= 3 && trimmed.IndexOf(' ') < 0)
        {
            return true; // print(foo(x))
        }

        return StartsWithKeyword(trimmed) && symbols >= 1;
    }

    private static readonly SearchValues<char> CodeSymbols = SearchValues.Create("(){}[];=<>\"'.:_");

    private static readonly SearchValues<char> MathChars = SearchValues.Create("$\\^_");

    private static bool StartsWithKeyword(ReadOnlySpan<char> t) =>
        t.StartsWith("def ") || t.StartsWith("class ") || t.StartsWith("import ") || t.StartsWith("from ") || t.StartsWith("#include")
        || t.StartsWith("return ") || t.StartsWith("function ") || t.StartsWith("const ") || t.StartsWith("let ") || t.StartsWith("var ")
        || t.StartsWith("public ") || t.StartsWith("private ") || t.StartsWith("static ") || t.StartsWith("if (") || t.StartsWith("for (")
        || t.StartsWith("while (") || t.StartsWith("SELECT ") || t.StartsWith("fn ") || t.StartsWith("func ") || t.StartsWith("#!/")
        || t.StartsWith("for ") || t.StartsWith("if ") || t.StartsWith("elif ") || t.StartsWith("else:") || t.StartsWith("print(")
        || t.StartsWith("<div") || t.StartsWith("</") || t.StartsWith("$ ") || t.StartsWith("int ") || t.StartsWith("void ");

    private static bool IsListItem(ReadOnlySpan<char> t)
    {
        if (t.Length >= 2 && t[0] is '-' or '*' or '•' && t[1] == ' ')
        {
            return true;
        }

        var digits = 0;
        while (digits < t.Length && digits < 3 && char.IsAsciiDigit(t[digits]))
        {
            digits++;
        }

        return digits > 0 && digits + 1 < t.Length && t[digits] is '.' or ')' && t[digits + 1] == ' ';
    }

    /// <summary>
    /// A line of display math: opened by <c>$$</c>, <c>\[</c>, <c>\begin</c> or <c>\end</c>, or math marks with at most two
    /// plain words (a problem statement with inline LaTeX has many words and stays prose).
    /// </summary>
    private static bool IsDisplayMath(ReadOnlySpan<char> t, int marks)
    {
        if (t.StartsWith("$$") || t.StartsWith("\\[") || t.StartsWith("\\begin") || t.StartsWith("\\end"))
        {
            return true;
        }

        if (marks < 3)
        {
            return false;
        }

        var words = 0;
        var run = 0;
        for (var i = 0; i < t.Length; i++)
        {
            if (char.IsAsciiLetter(t[i]))
            {
                run++;
                continue;
            }

            if (run >= 3 && (i - run == 0 || t[i - run - 1] != '\\'))
            {
                words++;
            }

            run = 0;
        }

        if (run >= 3 && (t.Length - run == 0 || t[t.Length - run - 1] != '\\'))
        {
            words++;
        }

        return words <= 2;
    }

    /// <summary>LaTeX commands, '$', and '^'/'_' touching a letter or digit (x^2, a_n): notation, not prose.</summary>
    internal static int CountMathMarks(ReadOnlySpan<char> t)
    {
        var from = t.IndexOfAny(MathChars);
        if (from < 0)
        {
            return 0;
        }

        var marks = 0;
        for (var i = from; i < t.Length; i++)
        {
            var c = t[i];
            if (c == '$')
            {
                marks++;
            }
            else if (c == '\\' && i + 1 < t.Length && char.IsAsciiLetter(t[i + 1]))
            {
                marks++;
            }
            else if (c is '^' or '_' && i > 0 && i + 1 < t.Length && char.IsAsciiLetterOrDigit(t[i - 1]) && (char.IsAsciiLetterOrDigit(t[i + 1]) || t[i + 1] == '{'))
            {
                marks++;
            }
        }

        return marks;
    }
}
