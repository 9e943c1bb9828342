using System.Text;

namespace ModelRouter.Bindings.Generator.Mapping;

/// <summary>C# spelling rules shared by the mapper and the emitters.</summary>
internal static class Names
{
    private static readonly HashSet<string> s_keywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
        "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern",
        "false", "finally", "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface",
        "internal", "is", "lock", "long", "namespace", "new", "null", "object", "operator", "out", "override",
        "params", "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed", "short",
        "sizeof", "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true", "try", "typeof",
        "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
    };

    /// <summary>C names are kept; only C# keywords get the verbatim prefix (params → @params).</summary>
    public static string Escape(string name) => s_keywords.Contains(name) ? "@" + name : name;

    /// <summary>Clang's spelling of unnamed records embeds an absolute path, which must never reach output.</summary>
    public static bool IsAnonymousSpelling(string spelling)
        => spelling.Length == 0
           || spelling.Contains("(unnamed", StringComparison.Ordinal)
           || spelling.Contains("(anonymous", StringComparison.Ordinal);

    /// <summary>
    /// The C spelling to put in [NativeTypeName], or null when it would say nothing the C# type does not.
    /// C's bool is always annotated: the C# bool is only 1 byte because runtime marshalling is disabled.
    /// </summary>
    public static string? NativeTypeName(string cSpelling, string csType)
    {
        if (IsAnonymousSpelling(cSpelling) || cSpelling.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }

        var native = NormalizeBool(cSpelling);
        var mentionsBool = ContainsWord(native, "bool");
        return !mentionsBool && Squash(native) == Squash(csType) ? null : native;
    }

    public static string CsStringLiteral(string value)
    {
        var sb = new StringBuilder(value.Length + 2);
        sb.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\0': sb.Append("\\0"); break;
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.Append('"').ToString();
    }

    private static string NormalizeBool(string spelling)
    {
        // <stdbool.h> makes bool a macro for _Bool, so clang spells the type _Bool; the header says bool.
        var sb = new StringBuilder(spelling.Length);
        var i = 0;
        while (i < spelling.Length)
        {
            if (string.CompareOrdinal(spelling, i, "_Bool", 0, 5) == 0 && IsBoundary(spelling, i - 1) && IsBoundary(spelling, i + 5))
            {
                sb.Append("bool");
                i += 5;
            }
            else
            {
                sb.Append(spelling[i]);
                i++;
            }
        }

        return sb.ToString();
    }

    private static bool ContainsWord(string text, string word)
    {
        var start = 0;
        while ((start = text.IndexOf(word, start, StringComparison.Ordinal)) >= 0)
        {
            if (IsBoundary(text, start - 1) && IsBoundary(text, start + word.Length))
            {
                return true;
            }

            start += word.Length;
        }

        return false;
    }

    private static bool IsBoundary(string text, int index)
        => index < 0 || index >= text.Length || !(char.IsLetterOrDigit(text[index]) || text[index] == '_');

    private static string Squash(string s) => string.Concat(s.Where(c => !char.IsWhiteSpace(c)));
}
