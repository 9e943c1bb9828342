using System.Collections.Concurrent;
using ModelRouter.Runtime.Chat;
using ModelRouter.Server.Options;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Requests;

/// <summary>
/// Renders chats with each model's own chat template: the catalog's ChatTemplate when set (a llama.cpp built-in name
/// or a template text), else the template in the model's GGUF metadata, read once per model without loading it.
/// </summary>
internal sealed class ChatTemplates(IReadOnlyDictionary<string, CatalogModelOptions> catalog)
{
    private readonly ConcurrentDictionary<string, string?> byModel = new(StringComparer.Ordinal);

    /// <exception cref="RequestException">The model has no template, or llama.cpp does not know it (InvalidArgument, naming the model).</exception>
    public string Render(string model, IReadOnlyList<ChatTurn> messages)
    {
        var template = byModel.GetOrAdd(model, Find);
        if (template is null)
        {
            throw new RequestException(RequestError.InvalidArgument,
                $"model '{model}' has no chat template (none in its GGUF metadata and the catalog sets no ChatTemplate); send a raw prompt (/v1/completions) or set ChatTemplate for it");
        }

        try
        {
            return ChatTemplate.Render(template, messages, addGenerationPrompt: true);
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

    private string? Find(string model)
    {
        var entry = catalog[model];
        if (entry.ChatTemplate is { Length: > 0 } configured)
        {
            return configured;
        }

        try
        {
            return ChatTemplate.ReadFromGguf(entry.Path);
        }
        catch (Runtime.InvalidModelFileException ex)
        {
            throw new RequestException(RequestError.ModelUnavailable, $"model '{model}': its chat template could not be read: {ex.Message}");
        }
    }
}
