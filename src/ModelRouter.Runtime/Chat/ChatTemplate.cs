using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using ModelRouter.Interop;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Chat;

/// <summary>
/// Renders a conversation into a model's prompt text with llama.cpp's built-in chat templates, and finds a
/// model's template in its GGUF metadata.
/// </summary>
/// <remarks>
/// llama.cpp does not execute Jinja here: <c>llama_chat_apply_template</c> recognises a template by markers in
/// its text (<c>&lt;|im_start|&gt;</c> is ChatML, <c>&lt;|start_header_id|&gt;</c> is Llama 3, …) or by a
/// built-in name (<see cref="BuiltInNames"/>), and renders with its own hand-written code for that family. So
/// a model's official template renders the family's plain chat (no tools, no default system prompt, no date
/// lines), and a template no built-in matches is refused with <see cref="ChatTemplateException"/>.
/// </remarks>
public static class ChatTemplate
{
    /// <summary>The GGUF metadata key that holds a model's default chat template (Jinja text).</summary>
    public const string MetadataKey = "tokenizer.chat_template";

    // The first render goes into a buffer sized from the input, but no larger than this: llama.cpp returns the
    // full length whatever the buffer, so a longer chat costs one more render (microseconds, next to prompt
    // processing) into a buffer of the exact size instead of a guess.
    private const int FirstGuessLimitBytes = 16 * 1024;

    // Markup a built-in adds per turn beyond the role itself (Llama 3's header and end tokens are 48 bytes).
    private const int MarkupPerTurnBytes = 64;

    private const string TemplateRequired =
        "A chat template is required: the model's tokenizer.chat_template text or a built-in name such as chatml or llama3.";

    private static IReadOnlyList<string>? builtInNames;

    /// <summary>
    /// Renders <paramref name="turns"/> with <paramref name="template"/>: a model's Jinja template text (as in
    /// <see cref="ReadFromGguf"/>) or a built-in name such as <c>chatml</c> or <c>llama3</c>.
    /// </summary>
    /// <param name="template">Jinja text or a built-in name.</param>
    /// <param name="turns">The conversation, oldest first; at least one turn.</param>
    /// <param name="addGenerationPrompt">End with the assistant's opening, so the model's continuation is its reply.</param>
    /// <exception cref="ArgumentException">The template is null or empty, the list is empty, a role is empty, or a string holds a NUL.</exception>
    /// <exception cref="ChatTemplateException">llama.cpp recognises no built-in template in <paramref name="template"/>.</exception>
    /// <exception cref="NativeLibraryLoadException">The native libraries do not load.</exception>
    public static unsafe string Render(string template, IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true)
    {
        if (template is null)
        {
            throw new ArgumentNullException(nameof(template), TemplateRequired);
        }

        if (template.Length == 0)
        {
            throw new ArgumentException(TemplateRequired, nameof(template));
        }

        RejectNul(template, "The chat template", nameof(template));
        ArgumentNullException.ThrowIfNull(turns);
        if (turns.Count == 0)
        {
            throw new ArgumentException("A chat needs at least one turn to render; the list of turns is empty.", nameof(turns));
        }

        var stringBytes = (long)Encoding.UTF8.GetByteCount(template) + 1;
        var inputBytes = 0L;
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

            RejectNul(turn.Role, $"The role of turn {i}", nameof(turns));
            RejectNul(turn.Content, $"The content of turn {i} ({turn.Role})", nameof(turns));
            var bytes = (long)Encoding.UTF8.GetByteCount(turn.Role) + Encoding.UTF8.GetByteCount(turn.Content);
            inputBytes += bytes;
            stringBytes += bytes + 2;
        }

        // llama.cpp measures the output in int32: an input near that size could not be rendered and reported.
        if (inputBytes + ((long)MarkupPerTurnBytes * turns.Count) > Array.MaxLength / 2)
        {
            throw new ArgumentException($"The chat is {inputBytes} bytes of UTF-8, too large to render.", nameof(turns));
        }

        NativeRuntime.EnsureInitialized();

        // One native block owns every string llama.cpp reads: the message array first (pointer-aligned, as
        // NativeMemory.Alloc returns), then NUL-terminated UTF-8 copies of the template, roles and contents.
        var arrayBytes = (long)sizeof(llama_chat_message) * turns.Count;
        var block = (byte*)NativeMemory.Alloc((nuint)(arrayBytes + stringBytes));
        try
        {
            var messages = (llama_chat_message*)block;
            var cursor = block + arrayBytes;
            var end = cursor + stringBytes;
            var nativeTemplate = (sbyte*)cursor;
            cursor = WriteUtf8(template, cursor, end);
            for (var i = 0; i < turns.Count; i++)
            {
                messages[i].role = (sbyte*)cursor;
                cursor = WriteUtf8(turns[i].Role, cursor, end);
                messages[i].content = (sbyte*)cursor;
                cursor = WriteUtf8(turns[i].Content, cursor, end);
            }

            var estimate = inputBytes + ((long)MarkupPerTurnBytes * (turns.Count + 1));
            var capacity = (int)Math.Min(estimate, FirstGuessLimitBytes);
            return RenderInto(template, nativeTemplate, messages, turns.Count, addGenerationPrompt, capacity);
        }
        finally
        {
            NativeMemory.Free(block);
        }
    }

    /// <summary>
    /// The <c>tokenizer.chat_template</c> of a GGUF file, read with the managed GGUF reader (the model is not
    /// loaded), or null when the file has none (or an empty one).
    /// </summary>
    /// <exception cref="InvalidModelFileException">The file is missing, unreadable or malformed, or the key is not a string.</exception>
    public static string? ReadFromGguf(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = GgufFile.Open(path);

        // An empty template would render nothing useful; reported as absent, the caller's error names the model.
        return file.TryGetString(MetadataKey, out var template) && template.Length > 0 ? template : null;
    }

    /// <summary>
    /// The names llama.cpp's built-in renderer accepts as a template (e.g. <c>chatml</c>, <c>llama3</c>), in
    /// llama.cpp's order. Each is also valid as <paramref name="template"/> in <see cref="Render"/>.
    /// </summary>
    /// <exception cref="NativeLibraryLoadException">The native libraries do not load.</exception>
    public static unsafe IReadOnlyList<string> BuiltInNames()
    {
        if (Volatile.Read(ref builtInNames) is { } cached)
        {
            return cached;
        }

        NativeRuntime.EnsureInitialized();
        var count = Llama.llama_chat_builtin_templates(null, 0);
        var pointers = new nint[count];
        fixed (nint* output = pointers)
        {
            count = Math.Min(count, Llama.llama_chat_builtin_templates((sbyte**)output, (nuint)pointers.Length));
        }

        // The pointers are keys of a static map inside llama.cpp: valid for the process, copied once here.
        var names = new string[count];
        for (var i = 0; i < count; i++)
        {
            names[i] = NativeStrings.Read((sbyte*)pointers[i]) ?? string.Empty;
        }

        Volatile.Write(ref builtInNames, names);
        return names;
    }

    private static unsafe string RenderInto(string template, sbyte* nativeTemplate, llama_chat_message* messages, int count, bool addGenerationPrompt, int capacity)
    {
        // Two attempts suffice: rendering is deterministic, and the second buffer has the length the first reported.
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 1));
            try
            {
                int length;
                fixed (byte* output = buffer)
                {
                    length = Llama.llama_chat_apply_template(nativeTemplate, messages, (nuint)count, addGenerationPrompt, (sbyte*)output, buffer.Length);
                }

                if (length < 0)
                {
                    throw new ChatTemplateException(template, BuiltInNames());
                }

                if (length <= buffer.Length)
                {
                    return Encoding.UTF8.GetString(buffer, 0, length);
                }

                capacity = length;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        throw new InvalidOperationException("llama_chat_apply_template reported a different length for the same chat twice.");
    }

    private static unsafe byte* WriteUtf8(string value, byte* destination, byte* end)
    {
        var room = (int)Math.Min(end - destination, int.MaxValue);
        var written = Encoding.UTF8.GetBytes(value, new Span<byte>(destination, room - 1));
        destination[written] = 0;
        return destination + written + 1;
    }

    private static void RejectNul(string value, string what, string parameterName)
    {
        // llama.cpp reads C strings: everything after a NUL would be dropped without a word.
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"{what} contains a NUL character, which would cut the text llama.cpp reads.", parameterName);
        }
    }
}
