namespace ModelRouter.Runtime.Chat;

/// <summary>
/// A chat template that llama.cpp's built-in renderer does not recognise. llama.cpp does not run Jinja: it
/// matches the template's text (or a built-in name) to one of its hand-written renderers, and a template it
/// cannot match cannot be rendered at all, so the caller must pick a built-in name instead.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    /// <summary>Characters of the template quoted in the message: enough to tell templates apart, short enough for a log line.</summary>
    internal const int QuotedLength = 80;

    /// <summary>Creates the exception for <paramref name="template"/>, listing the names that would work instead.</summary>
    public ChatTemplateException(string template, IReadOnlyList<string> builtInNames)
        : base(Describe(template, builtInNames))
    {
        TemplateStart = Quote(template);
    }

    /// <summary>Creates the exception with a generic message (kept for the usual exception shape).</summary>
    public ChatTemplateException()
        : base("The chat template is not one llama.cpp's built-in renderer recognises.")
    {
        TemplateStart = string.Empty;
    }

    /// <summary>Creates the exception with a message.</summary>
    public ChatTemplateException(string message)
        : base(message)
    {
        TemplateStart = string.Empty;
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ChatTemplateException(string message, Exception innerException)
        : base(message, innerException)
    {
        TemplateStart = string.Empty;
    }

    /// <summary>The first characters of the rejected template, as quoted in the message.</summary>
    public string TemplateStart { get; }

    private static string Describe(string template, IReadOnlyList<string> builtInNames) =>
        $"The chat template is not one llama.cpp's built-in renderer recognises: \"{Quote(template)}\". " +
        $"Name a built-in template instead (one of: {string.Join(", ", builtInNames)}).";

    private static string Quote(string? template)
    {
        if (string.IsNullOrEmpty(template))
        {
            return string.Empty;
        }

        // Line breaks would split the log line; shown escaped, the quote still reads as the template's text.
        var cut = template.Length <= QuotedLength ? template.Length : QuotedLength;
        if (cut < template.Length && char.IsHighSurrogate(template[cut - 1]))
        {
            cut--; // never split a surrogate pair: half of one is not text
        }

        var head = cut == template.Length ? template : template[..cut] + "…";
        return head.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }
}
