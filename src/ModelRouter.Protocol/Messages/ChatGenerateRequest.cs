namespace ModelRouter.Protocol;

/// <summary>
/// A chat request: messages the server renders with the model's chat template, then generates the next assistant
/// message. An explicit model, or none to let the router choose with the hints. Answered like a
/// <see cref="GenerateRequest"/> (token chunks, then done or error).
/// </summary>
public sealed class ChatGenerateRequest : GenerationOptions
{
    /// <summary>
    /// The conversation, oldest first: 1 to <see cref="ProtocolLimits.MaxChatMessages"/> messages whose contents together
    /// are at most the server's max prompt bytes in UTF-8.
    /// </summary>
    public required IReadOnlyList<ChatRequestMessage> Messages { get; init; }
}

/// <summary>One message of a chat request: a role (see <see cref="ChatRoles"/>) and its text.</summary>
/// <param name="Role">One of <see cref="ChatRoles.System"/>, <see cref="ChatRoles.User"/>, <see cref="ChatRoles.Assistant"/>, <see cref="ChatRoles.Tool"/>.</param>
/// <param name="Content">The text; may be empty.</param>
public readonly record struct ChatRequestMessage(string Role, string Content);

/// <summary>The roles a chat message may have on the wire (lower-case ASCII, compared exactly).</summary>
public static class ChatRoles
{
    public const string System = "system";
    public const string User = "user";
    public const string Assistant = "assistant";
    public const string Tool = "tool";

    /// <summary>Whether <paramref name="utf8"/> is one of the four roles.</summary>
    public static bool IsDefined(ReadOnlySpan<byte> utf8) => FromUtf8(utf8) is not null;

    /// <summary>Whether <paramref name="role"/> is one of the four roles.</summary>
    public static bool IsDefined(string? role) => role is System or User or Assistant or Tool;

    /// <summary>The role's constant string (no allocation), or null when <paramref name="utf8"/> is not a role.</summary>
    public static string? FromUtf8(ReadOnlySpan<byte> utf8)
    {
        if (utf8.SequenceEqual("user"u8))
        {
            return User;
        }

        if (utf8.SequenceEqual("assistant"u8))
        {
            return Assistant;
        }

        if (utf8.SequenceEqual("system"u8))
        {
            return System;
        }

        return utf8.SequenceEqual("tool"u8) ? Tool : null;
    }
}
