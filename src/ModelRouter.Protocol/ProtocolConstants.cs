namespace ModelRouter.Protocol;

/// <summary>
/// The fixed frame header of protocol version 1 (docs/protocol.md, "Frame header"). All integers are little-endian.
/// <code>
///  0       2       3       4               6               8                               12                              16
///  +---+---+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+
///  | 'M' 'R'|version| type |     flags     |   reserved    |          request id           |        payload length         |
///  +---+---+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+-------+
///    u8  u8    u8      u8        u16 LE          u16 = 0               u32 LE                          u32 LE
///  then `payload length` bytes of payload, laid out per frame type.
/// </code>
/// </summary>
public static class ProtocolConstants
{
    /// <summary>First magic byte, ASCII 'M'.</summary>
    public const byte Magic0 = 0x4D;

    /// <summary>Second magic byte, ASCII 'R'.</summary>
    public const byte Magic1 = 0x52;

    /// <summary>
    /// The header's version byte: the framing version, 1 in every session version (so that a server that speaks only
    /// version 1 still reads the headers of a newer client until hello-ok has told that client which version to use).
    /// </summary>
    public const byte Version = 1;

    /// <summary>
    /// The highest session version this library speaks (hello's max version, hello-ok's chosen version). Version 2
    /// adds the deciding route stage and its confidence to route-result and done, in bytes that are reserved in 1;
    /// version 3 appends the cached prompt tokens to done; version 4 appends the node that served (clusters).
    /// </summary>
    public const ushort HighestVersion = 4;

    /// <summary>The first session version whose route-result and done carry the deciding route stage.</summary>
    public const ushort RouteStageVersion = 2;

    /// <summary>
    /// The first session version whose done frame ends with the cached prompt tokens (prefix reuse). A field appended
    /// after the strings, so an older reader (which checks that nothing follows them) never receives it.
    /// </summary>
    public const ushort CachedTokensVersion = 3;

    /// <summary>
    /// The first session version whose done frame ends with the cluster node that served and why it was placed there
    /// (after the cached prompt tokens; empty outside a cluster), so that a client of a forwarded request sees where it
    /// ran.
    /// </summary>
    public const ushort ServingNodeVersion = 4;

    /// <summary>Size of the fixed frame header in bytes.</summary>
    public const int HeaderSize = 16;

    public const int MagicOffset = 0;
    public const int VersionOffset = 2;
    public const int TypeOffset = 3;
    public const int FlagsOffset = 4;
    public const int ReservedOffset = 6;
    public const int RequestIdOffset = 8;
    public const int PayloadLengthOffset = 12;

    /// <summary>Request id of connection-level frames (hello, hello-ok, go-away, connection errors).</summary>
    public const uint ConnectionRequestId = 0;

    /// <summary>Session flag in hello-ok: the session authenticated with the admin token.</summary>
    public const ushort SessionFlagAdmin = 0x0001;

    /// <summary>
    /// Generate and chat flag (byte 31, reserved and zero before it was defined, so every older client sends none): a
    /// cluster node forwarded this request, already routed; serve it here and never forward it again (one hop at most).
    /// </summary>
    public const byte RequestFlagForwarded = 0x01;

    /// <summary>Embed flag: L2-normalise the vector.</summary>
    public const byte EmbedFlagNormalize = 0x01;
}
