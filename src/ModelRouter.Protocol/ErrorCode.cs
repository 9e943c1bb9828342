namespace ModelRouter.Protocol;

/// <summary>
/// Stable numeric error codes carried by error frames (u16). Never renumber, only add. Ranges: 1xx protocol,
/// 2xx session, 3xx request, 4xx server, 9xx local to a client (never on the wire).
/// </summary>
public enum ErrorCode : ushort
{
    None = 0,

    /// <summary>Malformed header (fatal) or malformed payload (the request fails, the connection stays).</summary>
    BadFrame = 100,

    /// <summary>Declared payload length above the limit; detected from the header alone. Fatal.</summary>
    FrameTooLarge = 101,

    /// <summary>Frame type not defined in the negotiated version. The frame is skipped; the connection stays.</summary>
    UnknownFrameType = 102,

    /// <summary>Header version byte or hello's version not supported. Fatal.</summary>
    UnsupportedVersion = 103,

    /// <summary>A string field is not valid UTF-8.</summary>
    InvalidUtf8 = 104,

    /// <summary>A frame type the receiver never accepts in that direction or state (e.g. a second hello).</summary>
    UnexpectedFrame = 105,

    /// <summary>A request reused the id of a request still in flight. Fatal (answers would be ambiguous).</summary>
    DuplicateRequestId = 106,

    /// <summary>A request before a successful hello. Fatal.</summary>
    Unauthenticated = 200,

    /// <summary>Hello carried a token the server does not accept. Fatal.</summary>
    AuthenticationFailed = 201,

    /// <summary>An admin operation on a session that did not authenticate with the admin token.</summary>
    AdminRequired = 202,

    /// <summary>The connection already has the maximum number of requests in flight.</summary>
    TooManyRequestsInFlight = 203,

    /// <summary>A field is out of range (temperature, top-p, latency class, empty prompt...).</summary>
    InvalidArgument = 300,

    /// <summary>The named model is not in the catalog.</summary>
    UnknownModel = 301,

    /// <summary>Prompt (or embed text) longer than the limit in bytes, or than the model's context in tokens.</summary>
    PromptTooLong = 302,

    /// <summary>Requested max tokens above the limit.</summary>
    MaxTokensExceeded = 303,

    /// <summary>No model satisfies the routing hints (capability, cost budget, latency class).</summary>
    NoRouteMatched = 304,

    /// <summary>The request was cancelled (by a cancel frame or by the server) before generation started.</summary>
    Cancelled = 305,

    /// <summary>An unexpected server fault; the request failed, the server lives on.</summary>
    Internal = 400,

    /// <summary>The server's queues are full (named overload policy: reject); retry later.</summary>
    Overloaded = 401,

    /// <summary>The model exists but cannot be served now (failed to load, does not fit, being evicted).</summary>
    ModelUnavailable = 402,

    /// <summary>The server is shutting down and accepts no new requests.</summary>
    ShuttingDown = 403,

    /// <summary>The request waited longer than the server's bound.</summary>
    Timeout = 404,

    /// <summary>Local to a client: the connection closed or failed while the request was pending. Never on the wire.</summary>
    ConnectionClosed = 900,
}
