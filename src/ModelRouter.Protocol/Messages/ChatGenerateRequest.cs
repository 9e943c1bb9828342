namespace ModelRouter.Protocol;

/// <summary>
/// A chat request: messages the server renders with the model's chat template, then generates the next assistant
/// message. An explicit model, or none to let the router choose with the hints. Answered like a
/// <see cref="GenerateRequest"/> (token chunks, then done or error).
/// </summary>
public sealed class ChatGenerateRequest
{
    /// <summary>The model to use; null or empty means "route for me".</summary>
    public string? Model { get; init; }

    /// <summary>
    /// The conversation, oldest first: 1 to <see cref="ProtocolLimits.MaxChatMessages"/> messages whose contents together
    /// are at most the server's max prompt bytes in UTF-8.
    /// </summary>
    public required IReadOnlyList<ChatRequestMessage> Messages { get; init; }

    /// <summary>Tokens to generate at most; 0 means the server's default.</summary>
    public int MaxTokens { get; init; }

    /// <summary>Sampling temperature, finite and ≥ 0; 0 is greedy.</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Nucleus sampling in [0, 1]; 0 or 1 means off.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Top-k sampling; 0 means off.</summary>
    public int TopK { get; init; }

    /// <summary>Sampler seed; 0 lets the server choose.</summary>
    public ulong Seed { get; init; }

    /// <summary>Routing hint: latency class.</summary>
    public LatencyClass LatencyClass { get; init; }

    /// <summary>Routing hint: the most the request may cost, in the catalog's cost units; 0 means no budget.</summary>
    public float CostBudget { get; init; }

    /// <summary>Routing hint: a capability the chosen model must have (e.g. "code"); null or empty for none.</summary>
    public string? RequiredCapability { get; init; }

    /// <summary>Generation stops when one of these is produced (not included in the output).</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];
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
