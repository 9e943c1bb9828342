namespace ModelRouter.Runtime.Chat;

/// <summary>
/// One message of a conversation as a chat template renders it: a role (system, user, assistant, tool) and its text.
/// The one spelling of a chat message below the doors: the HTTP door, the socket's chat frame, the remote members of a
/// fallback chain and the template renderer all speak it.
/// </summary>
public readonly record struct ChatTurn(string Role, string Content);
