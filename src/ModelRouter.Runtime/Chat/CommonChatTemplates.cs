using System.Buffers;
using System.Text;
using System.Text.Json;
using ModelRouter.Interop;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Chat;

/// <summary>
/// A model's chat template parsed by llama.cpp's common chat layer (<c>common_chat_templates_init</c>, its own Jinja
/// engine) and rendered with <c>common_chat_templates_apply</c>, through libmr_common: the prompt llama-server builds
/// with <c>--jinja</c>, byte for byte, including what the template adds by itself (default system prompts, date lines,
/// tool descriptions). <see cref="ChatTemplate.Render"/> (llama.cpp's hand-written renderers) is the fallback for a
/// template this layer refuses.
/// </summary>
/// <remarks>
/// Immutable once parsed: one instance renders on any number of threads at once. Each render builds its JSON input and
/// copies the prompt out: it belongs to request admission, not to a per-token path.
/// </remarks>
public sealed unsafe class CommonChatTemplates : IDisposable
{
    /// <summary>The GGUF key of the tokenizer's BOS token id.</summary>
    public const string BosTokenIdKey = "tokenizer.ggml.bos_token_id";

    /// <summary>The GGUF key of the tokenizer's EOS token id.</summary>
    public const string EosTokenIdKey = "tokenizer.ggml.eos_token_id";

    private const string TokensKey = "tokenizer.ggml.tokens";
    private const string AddBosKey = "tokenizer.ggml.add_bos_token";
    private const string AddEosKey = "tokenizer.ggml.add_eos_token";

    private readonly Handle handle;

    private CommonChatTemplates(Handle handle, string source)
    {
        this.handle = handle;
        Source = source;
    }

    /// <summary>The template text as given.</summary>
    public string Source { get; }

    /// <summary>
    /// Parses <paramref name="template"/> (Jinja text, or <c>chatml</c>). <paramref name="bosToken"/> and
    /// <paramref name="eosToken"/> are the texts the template sees as <c>bos_token</c> and <c>eos_token</c>; with
    /// <paramref name="stripBos"/> (<paramref name="stripEos"/>) a leading BOS (trailing EOS) the template writes is
    /// dropped from the prompt, as llama.cpp does for a model whose tokenizer adds that token itself.
    /// </summary>
    /// <exception cref="ArgumentException">The template is empty or a string holds a NUL.</exception>
    /// <exception cref="ChatTemplateException">llama.cpp's Jinja engine does not parse the template.</exception>
    /// <exception cref="NativeLibraryLoadException">libmr_common is missing or of another ABI version.</exception>
    public static CommonChatTemplates Parse(string template, string? bosToken = null, string? eosToken = null, bool stripBos = false, bool stripEos = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(template);
        RejectNul(template, nameof(template));
        RejectNul(bosToken, nameof(bosToken));
        RejectNul(eosToken, nameof(eosToken));

        NativeRuntime.EnsureInitialized();
        StructuredOutput.CheckCommonAbi();
        var text = NativeStrings.Allocate(template);
        var bos = bosToken is null ? null : NativeStrings.Allocate(bosToken);
        var eos = eosToken is null ? null : NativeStrings.Allocate(eosToken);
        try
        {
            mr_chat_templates* created = null;
            var status = MrCommon.mr_chat_templates_init(null, (sbyte*)text, (sbyte*)bos, (sbyte*)eos, stripBos, stripEos, &created);
            if (status != mr_status.MR_STATUS_OK)
            {
                throw Failure(status, "llama.cpp's chat layer refuses the template");
            }

            return new CommonChatTemplates(new Handle(created), template);
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(eos);
            System.Runtime.InteropServices.NativeMemory.Free(bos);
            System.Runtime.InteropServices.NativeMemory.Free(text);
        }
    }

    /// <summary>
    /// What a GGUF file says about rendering chats without loading the model: its <c>tokenizer.chat_template</c>
    /// (null when absent or empty), the texts of its BOS and EOS tokens and whether its tokenizer adds them.
    /// </summary>
    /// <exception cref="InvalidModelFileException">The file is missing, unreadable or malformed.</exception>
    public static ChatTemplateSource ReadFromGguf(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = GgufFile.Open(path);
        var template = file.TryGetString(ChatTemplate.MetadataKey, out var text) && text.Length > 0 ? text : null;
        string? bos = null;
        string? eos = null;
        if (file.TryGetArray(TokensKey, out var tokens) && tokens.ElementType == GgufValueType.String)
        {
            var hasBos = file.TryGetUInt32(BosTokenIdKey, out var bosId);
            var hasEos = file.TryGetUInt32(EosTokenIdKey, out var eosId);
            long index = 0;
            foreach (var token in tokens.EnumerateStrings())
            {
                if (hasBos && index == bosId)
                {
                    bos = Encoding.UTF8.GetString(token);
                }

                if (hasEos && index == eosId)
                {
                    eos = Encoding.UTF8.GetString(token);
                }

                index++;
                if ((!hasBos || index > bosId) && (!hasEos || index > eosId))
                {
                    break;
                }
            }
        }

        // Absent keys: the request path tokenizes with BOS added where the vocabulary wants one, which is most
        // vocabularies with a BOS token, so a template's own leading BOS is dropped (see docs/chat-templates.md).
        var addBos = !file.TryGetValue<bool>(AddBosKey, out var addBosValue) || addBosValue;
        var addEos = file.TryGetValue<bool>(AddEosKey, out var addEosValue) && addEosValue;
        return new ChatTemplateSource(template, bos, eos, addBos, addEos);
    }

    /// <summary>Renders <paramref name="turns"/> (OpenAI messages with string content).</summary>
    /// <exception cref="ArgumentException">The list is empty, a role is empty or content is null.</exception>
    /// <exception cref="ChatTemplateException">The template raised an error for this conversation (e.g. roles must alternate).</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public string Render(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true, string? templateKwargsJson = null) =>
        Apply(MessagesJson(turns), toolsJson: null, templateKwargsJson, addGenerationPrompt).Prompt;

    /// <summary>
    /// Renders OpenAI-shaped <paramref name="messagesJson"/> (a JSON array) with optional <paramref name="toolsJson"/>
    /// (a JSON array of tools) and extra template variables (<paramref name="templateKwargsJson"/>, a JSON object, as
    /// llama-server's <c>chat_template_kwargs</c>).
    /// </summary>
    /// <exception cref="ChatTemplateException">Bad JSON, a message llama.cpp refuses, or the template raised an error.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public CommonChatResult Apply(string messagesJson, string? toolsJson = null, string? templateKwargsJson = null, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messagesJson);
        RejectNul(messagesJson, nameof(messagesJson));
        RejectNul(toolsJson, nameof(toolsJson));
        RejectNul(templateKwargsJson, nameof(templateKwargsJson));

        using var lease = new HandleLease(handle);
        var messages = NativeStrings.Allocate(messagesJson);
        var tools = toolsJson is null ? null : NativeStrings.Allocate(toolsJson);
        var kwargs = templateKwargsJson is null ? null : NativeStrings.Allocate(templateKwargsJson);
        sbyte* prompt = null;
        sbyte* grammar = null;
        try
        {
            var status = MrCommon.mr_chat_apply(handle.Pointer, (sbyte*)messages, (sbyte*)tools, (sbyte*)kwargs, addGenerationPrompt, &prompt, &grammar);
            if (status != mr_status.MR_STATUS_OK)
            {
                throw Failure(status, "llama.cpp's chat layer could not render the chat");
            }

            return new CommonChatResult(NativeStrings.Read(prompt) ?? string.Empty, NativeStrings.Read(grammar));
        }
        finally
        {
            MrCommon.mr_common_string_free(grammar);
            MrCommon.mr_common_string_free(prompt);
            System.Runtime.InteropServices.NativeMemory.Free(kwargs);
            System.Runtime.InteropServices.NativeMemory.Free(tools);
            System.Runtime.InteropServices.NativeMemory.Free(messages);
        }
    }

    /// <summary>
    /// Renders one chat request as llama-server's chat completions endpoint does, tools included:
    /// <paramref name="requestJson"/> is <c>{"messages": [...], "tools": [...], "tool_choice": "auto"|"required"|"none",
    /// "parallel_tool_calls": bool, "chat_template_kwargs": {...}}</c> (all but messages optional). The result says
    /// what generation needs (the grammar llama.cpp derived for the model's tool-call format, its triggers, stops and
    /// preserved tokens) and how to read the output back (<see cref="ChatRender.CreateParser"/>).
    /// </summary>
    /// <exception cref="ChatTemplateException">Bad JSON, a message or tool llama.cpp refuses, or the template raised an error.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public ChatRender RenderRequest(string requestJson)
    {
        ArgumentNullException.ThrowIfNull(requestJson);
        RejectNul(requestJson, nameof(requestJson));
        using var lease = new HandleLease(handle);
        var request = NativeStrings.Allocate(requestJson);
        sbyte* rendered = null;
        try
        {
            var status = MrCommon.mr_chat_render(handle.Pointer, (sbyte*)request, &rendered);
            if (status != mr_status.MR_STATUS_OK)
            {
                throw Failure(status, "llama.cpp's chat layer could not render the chat");
            }

            return ChatRender.FromJson(NativeStrings.Read(rendered)!);
        }
        finally
        {
            MrCommon.mr_common_string_free(rendered);
            System.Runtime.InteropServices.NativeMemory.Free(request);
        }
    }

    /// <summary>The OpenAI JSON array of <paramref name="turns"/>: <c>[{"role":..,"content":..},..]</c>.</summary>
    /// <exception cref="ArgumentException">The list is empty, a role is empty, content is null, or a string holds a NUL.</exception>
    public static string MessagesJson(IReadOnlyList<ChatTurn> turns)
    {
        ArgumentNullException.ThrowIfNull(turns);
        if (turns.Count == 0)
        {
            throw new ArgumentException("A chat needs at least one turn to render; the list of turns is empty.", nameof(turns));
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            for (var i = 0; i < turns.Count; i++)
            {
                var turn = turns[i];
                if (string.IsNullOrEmpty(turn.Role))
                {
                    throw new ArgumentException($"Turn {i} has an empty role; every turn needs one (system, user, assistant or tool).", nameof(turns));
                }

                if (turn.Content is null)
                {
                    throw new ArgumentException($"Turn {i} ({turn.Role}) has null content; use an empty string for an empty message.", nameof(turns));
                }

                RejectNul(turn.Role, nameof(turns));
                RejectNul(turn.Content, nameof(turns));
                RejectNul(turn.ToolCallId, nameof(turns));
                writer.WriteStartObject();
                writer.WriteString("role"u8, turn.Role);
                writer.WriteString("content"u8, turn.Content);
                if (turn.ToolCallsJson is { Length: > 0 } calls)
                {
                    writer.WritePropertyName("tool_calls"u8);
                    writer.WriteRawValue(calls); // validated as JSON here: a bad value is an ArgumentException below
                }

                if (turn.ToolCallId is { } callId)
                {
                    writer.WriteString("tool_call_id"u8, callId);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public void Dispose() => handle.Dispose();

    internal static Exception Failure(mr_status status, string summary)
    {
        var why = NativeStrings.Read(MrShim.mr_last_error()) is { Length: > 0 } detail ? detail : NativeStrings.Read(MrShim.mr_status_string(status));
        return status == mr_status.MR_STATUS_OUT_OF_MEMORY
            ? new InsufficientMemoryException($"{summary}: {why}")
            : new ChatTemplateException($"{summary}: {why}");
    }

    private static void RejectNul(string? value, string parameterName)
    {
        // The shim reads C strings: everything after a NUL would be dropped without a word.
        if (value is not null && value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("The text contains a NUL character, which would cut what llama.cpp reads.", parameterName);
        }
    }

    private sealed class Handle : OwnedSafeHandle
    {
        public Handle(mr_chat_templates* templates) => SetHandle((nint)templates);

        public mr_chat_templates* Pointer => (mr_chat_templates*)handle;

        protected override bool ReleaseHandle()
        {
            MrCommon.mr_chat_templates_free((mr_chat_templates*)handle);
            return true;
        }
    }
}

/// <summary>A rendered chat: the prompt, and the grammar llama.cpp derived for it (tool calls), or null.</summary>
public sealed record CommonChatResult(string Prompt, string? Grammar);

/// <summary>What a GGUF file holds for rendering chats (see <see cref="CommonChatTemplates.ReadFromGguf"/>).</summary>
/// <param name="Template">tokenizer.chat_template, or null when the file has none.</param>
/// <param name="BosToken">The BOS token's text, or null.</param>
/// <param name="EosToken">The EOS token's text, or null.</param>
/// <param name="AddsBos">Whether the tokenizer adds BOS (tokenizer.ggml.add_bos_token; true when absent).</param>
/// <param name="AddsEos">Whether the tokenizer adds EOS (tokenizer.ggml.add_eos_token; false when absent).</param>
public sealed record ChatTemplateSource(string? Template, string? BosToken, string? EosToken, bool AddsBos, bool AddsEos);
