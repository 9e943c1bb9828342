namespace ModelRouter.Protocol;

/// <summary>Hello (client → server, request id 0): the first frame on every connection.</summary>
public sealed class HelloMessage
{
    /// <summary>Highest protocol version the client speaks; the server answers with the version it chose.</summary>
    public ushort MaxVersion { get; init; } = ProtocolConstants.Version;

    /// <summary>Free-form client identification for logs, e.g. "my-app/1.2".</summary>
    public string ClientName { get; init; } = "";

    /// <summary>Shared secret: the server's client token or its admin token (the latter grants admin operations).</summary>
    public string Token { get; init; } = "";

    /// <summary>The token is a secret: it is never part of the text form.</summary>
    public override string ToString() => $"hello v{MaxVersion} from '{ClientName}'";
}
