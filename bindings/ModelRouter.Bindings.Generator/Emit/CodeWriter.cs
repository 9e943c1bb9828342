using System.Text;

namespace ModelRouter.Bindings.Generator.Emit;

/// <summary>Indented text with "\n" line endings on every platform, so output is byte-identical everywhere.</summary>
internal sealed class CodeWriter
{
    private readonly StringBuilder _text = new();
    private int _indent;
    private bool _pendingBlank;

    public void Line(string text)
    {
        FlushBlank();
        _text.Append(' ', _indent * 4).Append(text).Append('\n');
    }

    /// <summary>Requests one blank line before the next line; collapses repeats and never trails a brace.</summary>
    public void Blank() => _pendingBlank = _text.Length > 0;

    public void Open()
    {
        Line("{");
        _indent++;
        _pendingBlank = false;
    }

    public void Close()
    {
        _pendingBlank = false;
        _indent--;
        Line("}");
    }

    public override string ToString() => _text.ToString();

    private void FlushBlank()
    {
        if (_pendingBlank)
        {
            _text.Append('\n');
            _pendingBlank = false;
        }
    }
}
