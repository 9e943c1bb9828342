namespace ModelRouter.Protocol;

/// <summary>Frame types of protocol version 1. Values are stable: never renumber, only add.</summary>
public enum FrameType : byte
{
    /// <summary>Client → server, request id 0: first frame on a connection (version, client name, token).</summary>
    Hello = 0x01,

    /// <summary>Server → client, request id 0: handshake accepted; carries the negotiated version and limits.</summary>
    HelloOk = 0x02,

    /// <summary>Either direction: liveness probe; the peer answers <see cref="Pong"/> with the same value and id.</summary>
    Ping = 0x03,

    /// <summary>Answer to <see cref="Ping"/>.</summary>
    Pong = 0x04,

    /// <summary>Server → client, request id 0: the server is draining; send no new requests.</summary>
    GoAway = 0x05,

    /// <summary>Client → server: generate text with a named model or a routed one. Answered by chunks then done/error.</summary>
    Generate = 0x10,

    /// <summary>Client → server: route only; answered by <see cref="RouteResult"/>.</summary>
    Route = 0x11,

    /// <summary>Client → server: text to embedding vector; answered by <see cref="EmbedResult"/>.</summary>
    Embed = 0x12,

    /// <summary>Client → server: cancel the request whose id is in the header. Empty payload, never answered itself.</summary>
    Cancel = 0x13,

    /// <summary>Client → server: list the catalog; answered by <see cref="ModelList"/>.</summary>
    ListModels = 0x14,

    /// <summary>Client → server: server counters; answered by <see cref="Stats"/>.</summary>
    GetStats = 0x15,

    /// <summary>Client → server: preload, pin, unpin or evict a model (admin session only).</summary>
    Admin = 0x16,

    /// <summary>
    /// Client → server: generate the next message of a conversation (system/user/assistant/tool messages, rendered with
    /// the model's chat template by the server). Answered like <see cref="Generate"/>: chunks then done/error.
    /// </summary>
    Chat = 0x17,

    /// <summary>Server → client: a piece of generated text (complete UTF-8 sequences only).</summary>
    TokenChunk = 0x20,

    /// <summary>Server → client: generation finished; carries the statistics. Terminal.</summary>
    Done = 0x21,

    /// <summary>Server → client: the routing decision. Terminal.</summary>
    RouteResult = 0x22,

    /// <summary>Server → client: the embedding vector. Terminal.</summary>
    EmbedResult = 0x23,

    /// <summary>Server → client: the catalog with tiers and states. Terminal.</summary>
    ModelList = 0x24,

    /// <summary>Server → client: server statistics. Terminal.</summary>
    Stats = 0x25,

    /// <summary>Server → client: result of an admin operation. Terminal.</summary>
    AdminResult = 0x26,

    /// <summary>Server → client: a request failed (terminal), or with request id 0 the connection failed.</summary>
    Error = 0x27,
}

/// <summary>Classification of frame types, for dispatch and validation.</summary>
public static class FrameTypes
{
    /// <summary>Whether <paramref name="type"/> is a frame type of this protocol version.</summary>
    public static bool IsDefined(FrameType type) => type switch
    {
        >= FrameType.Hello and <= FrameType.GoAway => true,
        >= FrameType.Generate and <= FrameType.Chat => true,
        >= FrameType.TokenChunk and <= FrameType.Error => true,
        _ => false,
    };

    /// <summary>Whether a client may send this type (a server answers others with <see cref="ErrorCode.UnexpectedFrame"/>).</summary>
    public static bool IsClientToServer(FrameType type) =>
        type is FrameType.Hello or FrameType.Ping or FrameType.Pong || type is >= FrameType.Generate and <= FrameType.Chat;

    /// <summary>Whether a server may send this type.</summary>
    public static bool IsServerToClient(FrameType type) =>
        type is FrameType.HelloOk or FrameType.Ping or FrameType.Pong or FrameType.GoAway ||
        type is >= FrameType.TokenChunk and <= FrameType.Error;

    /// <summary>Whether the frame ends the request it answers (every server → client type except a token chunk).</summary>
    public static bool IsTerminal(FrameType type) =>
        type is FrameType.HelloOk or FrameType.Pong || type is >= FrameType.Done and <= FrameType.Error;
}
