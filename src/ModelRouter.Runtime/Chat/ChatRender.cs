using System.Text.Json;
using System.Text.RegularExpressions;

namespace ModelRouter.Runtime.Chat;

/// <summary>
/// One chat request as llama.cpp's common chat layer rendered it (<see cref="CommonChatTemplates.RenderRequest"/>):
/// the prompt, and what the model's format asks of generation when tools are offered: a grammar over the tool-call
/// syntax (lazy until one of <see cref="GrammarTriggers"/> appears, or from the first token when a call is required),
/// the generation prompt that grammar starts after, special tokens the output must keep as text, extra stops, and the
/// format's parser for the output (<see cref="CreateParser"/>). Plain data: no native memory.
/// </summary>
public sealed partial class ChatRender
{
    private ChatRender(string prompt, string format, string parser, string generationPrompt)
    {
        Prompt = prompt;
        Format = format;
        Parser = parser;
        GenerationPrompt = generationPrompt;
    }

    public string Prompt { get; }

    /// <summary>llama.cpp's name of the output format (e.g. "Content-only", "peg-native").</summary>
    public string Format { get; }

    /// <summary>The GBNF grammar of the format's tool calls; null when the output is free.</summary>
    public string? Grammar { get; private init; }

    /// <summary>Regular expressions over the generated text that switch <see cref="Grammar"/> on; empty: on from the start.</summary>
    public IReadOnlyList<string> GrammarTriggers { get; private init; } = [];

    /// <summary>Whether <see cref="Grammar"/> starts at <see cref="GenerationPrompt"/> (fed to it before sampling).</summary>
    public bool GrammarStartsAtGenerationPrompt { get; private init; }

    /// <summary>What the template wrote after the last message to start the answer (the parser reads it first).</summary>
    public string GenerationPrompt { get; }

    /// <summary>Special tokens the output must render as text (tool-call markers).</summary>
    public IReadOnlyList<string> PreservedTokens { get; private init; } = [];

    /// <summary>Stop strings the format adds.</summary>
    public IReadOnlyList<string> AdditionalStops { get; private init; } = [];

    /// <summary>The format's serialized parser (llama.cpp's PEG arena); empty: plain content.</summary>
    internal string Parser { get; }

    /// <summary>
    /// <see cref="Grammar"/> held to OpenAI's meaning of a request's tool fields where llama.cpp's is looser, by
    /// dropping one element of llama.cpp's own grammar text (a grammar built otherwise, as for formats llama.cpp writes
    /// by hand, comes back as is):
    /// <list type="bullet">
    /// <item><paramref name="callsOnly"/> ("required", or a named function: the answer is the call): llama.cpp's root
    /// rule keeps an optional <c>until-N?</c> (any text up to the call marker), which a trained model skips but which
    /// lets any model ramble to max_tokens without calling. It is dropped from the root rule.</item>
    /// <item><paramref name="oneCall"/> (parallel_tool_calls false): for formats that mark each call
    /// (<c>&lt;tool_call&gt;</c>...), llama.cpp allows one or more calls whatever parallel_tool_calls says
    /// (<c>tool-calls ::= (...)+</c>). The repetition is dropped.</item>
    /// </list>
    /// </summary>
    public string? GrammarFor(bool callsOnly, bool oneCall)
    {
        var grammar = Grammar;
        if (grammar is null)
        {
            return null;
        }

        if (callsOnly)
        {
            grammar = RootRule().Replace(grammar, m => TextBeforeCalls().Replace(m.Value, ""), 1);
        }

        if (oneCall)
        {
            grammar = RepeatedCalls().Replace(grammar, "tool-calls ::= $1", 1);
        }

        return grammar;
    }

    /// <summary>A parser for one answer to this request (one per request; not thread-safe).</summary>
    /// <exception cref="ChatTemplateException">llama.cpp cannot load the format's parser.</exception>
    public ChatOutputParser CreateParser() => ChatOutputParser.Create(Format, Parser, GenerationPrompt);

    internal static ChatRender FromJson(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var grammar = root.GetProperty("grammar");
        return new ChatRender(root.GetProperty("prompt").GetString()!, root.GetProperty("format").GetString()!,
            root.GetProperty("parser").GetString() ?? "", root.GetProperty("generation_prompt").GetString() ?? "")
        {
            Grammar = grammar.ValueKind == JsonValueKind.String && grammar.GetString() is { Length: > 0 } g ? g : null,
            GrammarTriggers = root.GetProperty("grammar_lazy").GetBoolean() ? Strings(root.GetProperty("grammar_trigger_patterns")) : [],
            GrammarStartsAtGenerationPrompt = root.GetProperty("grammar_prefill").GetBoolean(),
            PreservedTokens = Strings(root.GetProperty("preserved_tokens")),
            AdditionalStops = Strings(root.GetProperty("additional_stops")),
        };
    }

    private static string[] Strings(JsonElement array)
    {
        var values = new string[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            values[i++] = item.GetString() ?? "";
        }

        return values;
    }

    [GeneratedRegex(@"^root ::= .*$", RegexOptions.Multiline)]
    private static partial Regex RootRule();

    [GeneratedRegex(@"^tool-calls ::= \((.*)\)\+$", RegexOptions.Multiline)]
    private static partial Regex RepeatedCalls();

    [GeneratedRegex(@" until-[0-9]+\?")]
    private static partial Regex TextBeforeCalls();
}
