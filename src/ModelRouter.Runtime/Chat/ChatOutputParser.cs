using System.Text.Json;
using ModelRouter.Interop;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Chat;

/// <summary>What a piece of parsed output is.</summary>
public enum ChatOutputDeltaKind
{
    /// <summary>Answer text.</summary>
    Content,

    /// <summary>Thinking text the format marks as such.</summary>
    Reasoning,

    /// <summary>A piece of a tool call: its id and name (first piece only) and a piece of its JSON arguments.</summary>
    ToolCall,
}

/// <summary>
/// One piece of parsed output, in OpenAI's streaming shape. For <see cref="ChatOutputDeltaKind.ToolCall"/>:
/// <see cref="Index"/> is the call's position in the answer, <see cref="Id"/> and <see cref="Name"/> are set on its
/// first piece only, and <see cref="Text"/> is a piece of its arguments (JSON text, whole once every piece is joined).
/// </summary>
public readonly record struct ChatOutputDelta(ChatOutputDeltaKind Kind, string Text, int Index = -1, string? Id = null, string? Name = null);

/// <summary>
/// Reads one answer's output back in its chat format with llama.cpp's own parser (<c>common_chat_parse</c>, through
/// libmr_common), as llama-server does: the text is fed as it is generated and each update returns what became
/// certain since the last one (content, reasoning, tool-call pieces). Owns native memory: dispose it. One answer, one
/// thread at a time.
/// </summary>
/// <remarks>
/// Each update parses the whole output so far (llama.cpp's parsers are not incremental) and returns JSON: tool-call
/// answers are short, and this runs only for requests that offered tools.
/// </remarks>
public sealed unsafe class ChatOutputParser : IDisposable
{
    private readonly Handle handle;

    private ChatOutputParser(Handle handle) => this.handle = handle;

    /// <summary>Calls found so far.</summary>
    public int ToolCallCount { get; private set; }

    /// <summary>After the final update: why the output did not match its format (then its rest came as content); else null.</summary>
    public string? FormatError { get; private set; }

    internal static ChatOutputParser Create(string format, string parser, string generationPrompt)
    {
        StructuredOutput.CheckCommonAbi();
        var formatText = NativeStrings.Allocate(format);
        var parserText = NativeStrings.Allocate(parser);
        var prompt = NativeStrings.Allocate(generationPrompt);
        try
        {
            mr_chat_parser* created = null;
            var status = MrCommon.mr_chat_parser_init((sbyte*)formatText, (sbyte*)parserText, (sbyte*)prompt, &created);
            if (status != mr_status.MR_STATUS_OK)
            {
                throw CommonChatTemplates.Failure(status, "llama.cpp cannot read this chat format's output");
            }

            return new ChatOutputParser(new Handle(created));
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(prompt);
            System.Runtime.InteropServices.NativeMemory.Free(parserText);
            System.Runtime.InteropServices.NativeMemory.Free(formatText);
        }
    }

    /// <summary>
    /// Adds <paramref name="utf8"/> (generated text, may be empty) and appends to <paramref name="deltas"/> what is now
    /// certain. <paramref name="final"/>: the answer ended; a call still open is then an output error
    /// (<see cref="FormatError"/>) and the unsent rest of the output comes as content.
    /// </summary>
    /// <exception cref="ChatTemplateException">llama.cpp's parser failed in a way that is not about the output.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public void Update(ReadOnlySpan<byte> utf8, bool final, List<ChatOutputDelta> deltas)
    {
        ArgumentNullException.ThrowIfNull(deltas);
        using var lease = new HandleLease(handle);
        sbyte* json = null;
        try
        {
            mr_status status;
            fixed (byte* text = utf8)
            {
                status = MrCommon.mr_chat_parser_update(handle.Pointer, (sbyte*)text, (nuint)utf8.Length, final, &json);
            }

            if (status != mr_status.MR_STATUS_OK)
            {
                throw CommonChatTemplates.Failure(status, "llama.cpp's chat parser failed");
            }

            Read(System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)json), deltas);
        }
        finally
        {
            MrCommon.mr_common_string_free(json);
        }
    }

    public void Dispose() => handle.Dispose();

    private void Read(ReadOnlySpan<byte> json, List<ChatOutputDelta> deltas)
    {
        var reader = new Utf8JsonReader(json);
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        foreach (var delta in root.GetProperty("deltas").EnumerateArray())
        {
            if (delta.TryGetProperty("content", out var content))
            {
                deltas.Add(new ChatOutputDelta(ChatOutputDeltaKind.Content, content.GetString() ?? ""));
            }
            else if (delta.TryGetProperty("reasoning_content", out var reasoning))
            {
                deltas.Add(new ChatOutputDelta(ChatOutputDeltaKind.Reasoning, reasoning.GetString() ?? ""));
            }
            else if (delta.TryGetProperty("tool_call", out var call))
            {
                deltas.Add(new ChatOutputDelta(ChatOutputDeltaKind.ToolCall, call.GetProperty("arguments").GetString() ?? "",
                    call.GetProperty("index").GetInt32(),
                    call.TryGetProperty("id", out var id) ? id.GetString() : null,
                    call.TryGetProperty("name", out var name) ? name.GetString() : null));
            }
        }

        ToolCallCount = root.GetProperty("tool_calls").GetInt32();
        if (root.TryGetProperty("error", out var error))
        {
            FormatError = error.GetString();
        }
    }

    private sealed class Handle : OwnedSafeHandle
    {
        public Handle(mr_chat_parser* parser) => SetHandle((nint)parser);

        public mr_chat_parser* Pointer => (mr_chat_parser*)handle;

        protected override bool ReleaseHandle()
        {
            MrCommon.mr_chat_parser_free((mr_chat_parser*)handle);
            return true;
        }
    }
}
