using System.Diagnostics.CodeAnalysis;

namespace ModelRouter.Protocol;

/// <summary>Header flags. Bits not defined here must be zero (a frame with others is a fatal <see cref="ErrorCode.BadFrame"/>).</summary>
[Flags]
[SuppressMessage("Naming", "CA1711", Justification = "Named after the header field it encodes.")]
public enum FrameFlags : ushort
{
    None = 0,

    /// <summary>
    /// Set by the sender on the last frame of a response (done, error, every *-result, hello-ok, pong), so a proxy can
    /// retire a request id without knowing the types. Receivers decide by type; the writers here set it.
    /// </summary>
    Final = 0x0001,
}

internal static class FrameFlagsMask
{
    internal const ushort Defined = (ushort)FrameFlags.Final;
}
