using System.Diagnostics.CodeAnalysis;

namespace ModelRouter.Protocol;

/// <summary>Throw sites kept out of the readers' hot paths (the JIT does not inline methods that throw).</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    internal static void Fatal(ErrorCode code, string message) =>
        throw new ProtocolException(code, message, 0, isFatal: true);

    [DoesNotReturn]
    internal static void Payload(ErrorCode code, string message) =>
        throw new ProtocolException(code, message, 0, isFatal: false);

    [DoesNotReturn]
    internal static void Truncated(int needed, int remaining) =>
        throw new ProtocolException(ErrorCode.BadFrame, $"payload truncated: needed {needed} more bytes, {remaining} left", 0, isFatal: false);

    [DoesNotReturn]
    internal static void UnknownType(FrameType type, uint requestId) =>
        throw new ProtocolException(ErrorCode.UnknownFrameType, $"unknown frame type 0x{(byte)type:X2}", requestId, isFatal: false);

    [DoesNotReturn]
    internal static void TooLarge(uint declared, int limit) =>
        throw new ProtocolException(ErrorCode.FrameTooLarge, $"declared payload length {declared} exceeds the limit of {limit} bytes", 0, isFatal: true);

    [DoesNotReturn]
    internal static void ArgumentOutOfRange(string name, string message) =>
        throw new ArgumentOutOfRangeException(name, message);
}
