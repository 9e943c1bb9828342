namespace ModelRouter.Runtime.Chat;

/// <summary>
/// One message of a conversation as a chat template renders it: a role (system, user, assistant, tool) and its text.
/// The one spelling of a chat message below the doors: the HTTP door, the socket's chat frame, the remote members of a
/// fallback chain and the template renderer all speak it.
/// </summary>
/// <remarks>
/// An agent's turns carry more: an assistant turn that called tools (<see cref="ToolCallsJson"/>, OpenAI's
/// <c>tool_calls</c> array as JSON text) and the tool turn answering one (<see cref="ToolCallId"/>). Only llama.cpp's
/// common chat layer renders those; a renderer that knows only role and content sees <see cref="Content"/>.
/// </remarks>
public readonly record struct ChatTurn(string Role, string Content)
{
    /// <summary>OpenAI's <c>tool_calls</c> of an assistant turn, as a JSON array; null when it called none.</summary>
    public string? ToolCallsJson { get; init; }

    /// <summary>The call a tool turn answers (OpenAI's <c>tool_call_id</c>); null otherwise.</summary>
    public string? ToolCallId { get; init; }
}
