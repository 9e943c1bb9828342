using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ModelRouter.Runtime.Chat;
using ModelRouter.Server.Options;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>
/// Renders chats with each model's own chat template: the catalog's ChatTemplate when set (a llama.cpp built-in name
/// or a template text), else the template in the model's GGUF metadata, read once per model without loading it.
/// A template text goes through llama.cpp's common chat layer (Jinja, <see cref="CommonChatTemplates"/>), as
/// llama-server with --jinja renders it; <c>llama_chat_apply_template</c> (<see cref="ChatTemplate"/>) renders a
/// built-in name, and a text the common layer refuses, with a log line saying why.
/// </summary>
internal sealed partial class ChatTemplates(IReadOnlyDictionary<string, CatalogModelOptions> catalog, ILogger? logger = null) : IDisposable
{
    private static readonly ChatTurn[] ProbeChat = [new("user", "Hello")];

    private readonly ConcurrentDictionary<string, Lazy<Entry>> byModel = new(StringComparer.Ordinal);
    private readonly ILogger logger = logger ?? NullLogger.Instance;

    /// <exception cref="RequestException">The model has no template, the template refuses this conversation, or neither renderer knows it (InvalidArgument, naming the model).</exception>
    public string Render(string model, IReadOnlyList<ChatTurn> messages)
    {
        var entry = Get(model);
        if (entry.Template is null)
        {
            throw new RequestException(RequestError.InvalidArgument,
                $"model '{model}' has no chat template (none in its GGUF metadata and the catalog sets no ChatTemplate); send a raw prompt (/v1/completions) or set ChatTemplate for it");
        }

        try
        {
            // A template that raises for this conversation (roles must alternate, ...) is the client's error, as in
            // llama-server: the fallback is for templates the common layer cannot take at all, not for bad chats.
            return entry.Common is { } common
                ? common.Render(messages, addGenerationPrompt: true)
                : ChatTemplate.Render(entry.Template, messages, addGenerationPrompt: true);
        }
        catch (ChatTemplateException ex)
        {
            throw new RequestException(RequestError.InvalidArgument, $"model '{model}': {ex.Message}");
        }
        catch (ArgumentException ex)
        {
            throw new RequestException(RequestError.InvalidArgument, ex.Message);
        }
    }

    /// <summary>
    /// Renders a chat that offers tools or replays tool calls (<paramref name="requestJson"/>: messages, tools,
    /// tool_choice, as <see cref="CommonChatTemplates.RenderRequest"/> reads it). Only llama.cpp's common layer knows a
    /// model's tool-call format: a model that falls back to the built-in renderer cannot take such a chat.
    /// </summary>
    /// <exception cref="RequestException">No template, a template the common layer refuses, or one that refuses this chat (InvalidArgument).</exception>
    public ChatRender RenderWithTools(string model, string requestJson)
    {
        var entry = Get(model);
        if (entry.Common is not { } common)
        {
            throw new RequestException(RequestError.InvalidArgument, entry.Template is null
                ? $"model '{model}' has no chat template (none in its GGUF metadata and the catalog sets no ChatTemplate); tool calls need one"
                : $"model '{model}': tool calls need a chat template llama.cpp's Jinja chat layer can read, and this model's renders only with the built-in fallback");
        }

        try
        {
            return common.RenderRequest(requestJson);
        }
        catch (ChatTemplateException ex)
        {
            throw new RequestException(RequestError.InvalidArgument, $"model '{model}': {ex.Message}");
        }
    }

    /// <summary>Whether <paramref name="model"/>'s chats go through the common (Jinja) layer; false for the fallback.</summary>
    internal bool UsesCommonLayer(string model) => Get(model).Common is not null;

    public void Dispose()
    {
        foreach (var lazy in byModel.Values)
        {
            if (lazy.IsValueCreated)
            {
                lazy.Value.Common?.Dispose();
            }
        }
    }

    private Entry Get(string model)
    {
        // Lazy: one parse per model even when the first requests race (a parsed template holds native memory).
        var lazy = byModel.GetOrAdd(model, name => new Lazy<Entry>(() => Find(name)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            // An unreadable file may be replaced (model files change): a failure is not cached, the next request
            // reads the file again.
            byModel.TryRemove(new KeyValuePair<string, Lazy<Entry>>(model, lazy));
            throw;
        }
    }

    private Entry Find(string model)
    {
        var options = catalog[model];
        ChatTemplateSource? source = null;
        try
        {
            source = options.Path.Length > 0 || options.ChatTemplate is not { Length: > 0 } ? CommonChatTemplates.ReadFromGguf(options.Path) : null;
        }
        catch (Runtime.InvalidModelFileException ex) when (options.ChatTemplate is not { Length: > 0 })
        {
            throw new RequestException(RequestError.ModelUnavailable, $"model '{model}': its chat template could not be read: {ex.Message}");
        }
        catch (Runtime.InvalidModelFileException)
        {
            // The catalog names the template; BOS/EOS texts are only missing from a template that uses them.
        }

        var template = options.ChatTemplate is { Length: > 0 } configured ? configured : source?.Template;
        if (template is null)
        {
            return new Entry(null, null);
        }

        if (IsBuiltInName(template))
        {
            return new Entry(template, null); // a name, not a template: only llama.cpp's built-in renderer knows it
        }

        CommonChatTemplates? parsed = null;
        try
        {
            parsed = CommonChatTemplates.Parse(template, source?.BosToken, source?.EosToken, source?.AddsBos ?? false, source?.AddsEos ?? false);

            // The layer also analyses the template when it renders (to derive its output format); a template it
            // cannot analyse fails every render. One user turn, which every chat template accepts, finds that here,
            // where the fallback can still take the model, instead of in every request.
            parsed.Render(ProbeChat);
            var common = parsed;
            parsed = null;
            return new Entry(template, common);
        }
        catch (ChatTemplateException ex)
        {
            LogFallback(logger, model, ex.Message);
        }
        catch (DllNotFoundException ex) // Interop's NativeLibraryLoadException: no libmr_common, or another ABI version
        {
            LogFallback(logger, model, ex.Message);
        }
        finally
        {
            parsed?.Dispose();
        }

        return new Entry(template, null);
    }

    private static bool IsBuiltInName(string template) =>
        template.Length <= 32 && ChatTemplate.BuiltInNames().Contains(template, StringComparer.Ordinal);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Warning,
        Message = "Model {Model}: llama.cpp's common chat layer refuses its template, so chats render with llama_chat_apply_template's built-in families instead: {Reason}")]
    private static partial void LogFallback(ILogger logger, string model, string reason);

    private sealed record Entry(string? Template, CommonChatTemplates? Common);
}
