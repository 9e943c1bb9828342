using ModelRouter.Runtime.Chat;
using ModelRouter.Runtime.Generation;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Requests;

/// <summary>
/// A generation as every door asks for it: a raw prompt (completion) or a conversation (chat) rendered with the
/// serving model's chat template; a model by name, or none for the router to choose. Doors fill it from their wire
/// format and validate nothing beyond the wire's own rules: <see cref="RequestPipeline"/> checks the rest once.
/// </summary>
public sealed record GenerationCommand
{
    /// <summary>A catalog model; null (or "auto") for the router to choose with <see cref="Hints"/>.</summary>
    public string? Model { get; init; }

    /// <summary>The raw prompt of a completion; null for a chat.</summary>
    public string? Prompt { get; init; }

    /// <summary>The conversation of a chat; null for a completion.</summary>
    public IReadOnlyList<ChatTurn>? Messages { get; init; }

    /// <summary>Most tokens to generate; 0 for the server's default (min(256, Limits.MaxTokens)).</summary>
    public int MaxTokens { get; init; }

    public float Temperature { get; init; }

    /// <summary>Nucleus sampling mass in (0, 1]; 0 or 1 turns it off.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>0 turns top-k off.</summary>
    public int TopK { get; init; }

    /// <summary>0: the server picks a random seed.</summary>
    public ulong Seed { get; init; }

    public IReadOnlyList<string> Stop { get; init; } = [];

    public RouteHints Hints { get; init; } = RouteHints.None;

    /// <summary>The end user on whose behalf the client asks (passed to remote members; logged nowhere).</summary>
    public string? User { get; init; }

    /// <summary>A constraint on the output (JSON object, JSON schema, GBNF grammar); null for free text.</summary>
    public OutputConstraint? Output { get; init; }

    /// <summary>Tools the model may call (chats only); null for none.</summary>
    public ToolsRequest? Tools { get; init; }

    /// <summary>
    /// A cluster node routed this request and forwarded it here (socket door, request flag): it is served on this node,
    /// never forwarded again, and refused while this node does not take forwarded work (<see cref="IRequestForwarder.AcceptsForwarded"/>).
    /// </summary>
    public bool Forwarded { get; init; }

    /// <summary>The text the router classifies: the prompt, or the last user message of a chat.</summary>
    internal string RoutingText =>
        Prompt ?? Messages?.LastOrDefault(m => string.Equals(m.Role, "user", StringComparison.OrdinalIgnoreCase)).Content ?? Messages?[^1].Content ?? "";
}

/// <summary>
/// Structured output as a door received it, still unchecked: <see cref="Text"/> is the JSON schema for
/// <see cref="StructuredOutputKind.JsonSchema"/>, the GBNF for <see cref="StructuredOutputKind.Grammar"/>, and null for
/// <see cref="StructuredOutputKind.JsonObject"/>. The pipeline turns it into a grammar (a bad one is InvalidArgument).
/// </summary>
public sealed record OutputConstraint(StructuredOutputKind Kind, string? Text = null);

/// <summary>Whether and how the model calls tools (OpenAI's <c>tool_choice</c>, a named function already resolved).</summary>
public enum ToolChoice
{
    /// <summary>The model decides: free text, or calls (the grammar wakes at the format's call marker).</summary>
    Auto,

    /// <summary>The answer is one or more calls (the grammar rules from the first token).</summary>
    Required,

    /// <summary>Tools are described to the model but it must not call them.</summary>
    None,
}

/// <summary>
/// The tools of a chat, as a door received them: <see cref="ToolsJson"/> is OpenAI's <c>tools</c> array (JSON text,
/// shape checked by the door). A <c>tool_choice</c> naming one function arrives as that function alone with
/// <see cref="ToolChoice.Required"/>.
/// </summary>
public sealed record ToolsRequest(string ToolsJson, ToolChoice Choice = ToolChoice.Auto, bool ParallelCalls = false);

/// <summary>Texts to embed with one model, as every door asks for it.</summary>
public sealed record EmbeddingCommand
{
    /// <summary>A catalog model; null for the catalog's embedding model.</summary>
    public string? Model { get; init; }

    public required IReadOnlyList<string> Inputs { get; init; }

    /// <summary>Scale each vector to unit length.</summary>
    public bool Normalize { get; init; } = true;
}

/// <summary>The admin operations on one model.</summary>
public enum AdminAction
{
    Preload,
    Pin,
    Unpin,
    Evict,
}

/// <summary>Who asks: what the door's authentication established.</summary>
public readonly record struct RequestCaller(bool IsAdmin);
