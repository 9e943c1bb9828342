namespace ModelRouter.Protocol;

/// <summary>Hello-ok (server → client, request id 0): the handshake succeeded.</summary>
public sealed class ServerHello
{
    /// <summary>
    /// The session version both sides now speak: it selects payload layouts (version 2 adds the route stage to
    /// route-result and done); headers carry <see cref="ProtocolConstants.Version"/> in every version.
    /// </summary>
    public ushort Version { get; init; } = ProtocolConstants.Version;

    /// <summary>The session authenticated with the admin token.</summary>
    public bool IsAdmin { get; init; }

    /// <summary>Largest payload the server accepts.</summary>
    public int MaxPayloadBytes { get; init; } = ProtocolLimits.DefaultMaxPayloadBytes;

    /// <summary>Largest prompt or embed text in bytes.</summary>
    public int MaxPromptBytes { get; init; } = ProtocolLimits.DefaultMaxPromptBytes;

    /// <summary>Largest max-tokens of a generate.</summary>
    public int MaxTokens { get; init; } = ProtocolLimits.DefaultMaxTokens;

    /// <summary>Requests this connection may have in flight.</summary>
    public int MaxRequestsInFlight { get; init; } = ProtocolLimits.DefaultMaxRequestsInFlight;

    /// <summary>Server-assigned id of this connection (for correlating logs).</summary>
    public ulong ConnectionId { get; init; }

    /// <summary>Server name and version, e.g. "ModelRouter.Native/0.1".</summary>
    public string ServerName { get; init; } = "";

    /// <summary>The announced limits applied over the specification's defaults.</summary>
    public ProtocolLimits ToLimits(in ProtocolLimits baseLimits) => baseLimits with
    {
        MaxPayloadBytes = MaxPayloadBytes,
        MaxPromptBytes = MaxPromptBytes,
        MaxTokens = MaxTokens,
        MaxRequestsInFlight = MaxRequestsInFlight,
    };

    /// <summary>What a server announces for its limits.</summary>
    public static ServerHello FromLimits(in ProtocolLimits limits, bool isAdmin, ulong connectionId, string serverName, ushort version = ProtocolConstants.Version) => new()
    {
        Version = version,
        IsAdmin = isAdmin,
        MaxPayloadBytes = limits.MaxPayloadBytes,
        MaxPromptBytes = limits.MaxPromptBytes,
        MaxTokens = limits.MaxTokens,
        MaxRequestsInFlight = limits.MaxRequestsInFlight,
        ConnectionId = connectionId,
        ServerName = serverName,
    };
}
