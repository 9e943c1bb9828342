namespace ModelRouter.Protocol;

/// <summary>
/// The limits that are part of the specification (docs/protocol.md, "Limits"). A server announces its own in
/// hello-ok; the defaults below are what a server uses unless configured otherwise.
/// </summary>
public readonly record struct ProtocolLimits
{
    public const int DefaultMaxPayloadBytes = 1024 * 1024;
    public const int DefaultMaxHelloPayloadBytes = 4 * 1024;
    public const int DefaultMaxPromptBytes = 256 * 1024;
    public const int DefaultMaxTokens = 4096;
    public const int DefaultMaxRequestsInFlight = 32;
    public const int DefaultMaxStopSequences = 8;
    public const int DefaultMaxStopSequenceBytes = 256;
    public const int DefaultMaxNameBytes = 256;
    public const int DefaultMaxTokenBytes = 1024;
    public const int DefaultMaxChatMessages = 256;

    /// <summary>Hard ceiling for any configured payload limit (16 MiB); a larger length is never accepted.</summary>
    public const int AbsoluteMaxPayloadBytes = 16 * 1024 * 1024;

    public ProtocolLimits()
    {
    }

    /// <summary>Largest payload (header excluded) a receiver accepts once the session is established.</summary>
    public int MaxPayloadBytes { get; init; } = DefaultMaxPayloadBytes;

    /// <summary>Largest payload accepted before the handshake completed (so an unauthenticated peer cannot make us buffer 1 MiB).</summary>
    public int MaxHelloPayloadBytes { get; init; } = DefaultMaxHelloPayloadBytes;

    /// <summary>Largest prompt (generate, route) or text (embed) in UTF-8 bytes.</summary>
    public int MaxPromptBytes { get; init; } = DefaultMaxPromptBytes;

    /// <summary>Largest max-tokens a generate may ask for.</summary>
    public int MaxTokens { get; init; } = DefaultMaxTokens;

    /// <summary>Requests a connection may have in flight at once.</summary>
    public int MaxRequestsInFlight { get; init; } = DefaultMaxRequestsInFlight;

    /// <summary>Stop sequences per generate.</summary>
    public int MaxStopSequences { get; init; } = DefaultMaxStopSequences;

    /// <summary>Bytes per stop sequence.</summary>
    public int MaxStopSequenceBytes { get; init; } = DefaultMaxStopSequenceBytes;

    /// <summary>Bytes of a name: model, capability, task type, client name, server name.</summary>
    public int MaxNameBytes { get; init; } = DefaultMaxNameBytes;

    /// <summary>Bytes of the hello token.</summary>
    public int MaxTokenBytes { get; init; } = DefaultMaxTokenBytes;

    /// <summary>
    /// Messages per chat (at most 65,535: the count is a u16). Not announced in hello-ok (its layout is fixed in
    /// version 1), so a client assumes the specification's value.
    /// </summary>
    public int MaxChatMessages { get; init; } = DefaultMaxChatMessages;

    /// <summary>The defaults of the specification.</summary>
    public static ProtocolLimits Default => new();

    /// <summary>The same limits with the payload limit lowered to <see cref="MaxHelloPayloadBytes"/>: use before hello-ok.</summary>
    public ProtocolLimits ForHandshake() => this with { MaxPayloadBytes = Math.Min(MaxPayloadBytes, MaxHelloPayloadBytes) };
}
