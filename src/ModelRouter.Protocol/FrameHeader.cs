using System.Buffers.Binary;
using static ModelRouter.Protocol.ProtocolConstants;

namespace ModelRouter.Protocol;

/// <summary>The 16-byte fixed header (layout in <see cref="ProtocolConstants"/>).</summary>
public readonly record struct FrameHeader(FrameType Type, FrameFlags Flags, uint RequestId, int PayloadLength)
{
    /// <summary>Total frame size: header plus payload.</summary>
    public int FrameLength => HeaderSize + PayloadLength;

    /// <summary>Writes the header into the first <see cref="ProtocolConstants.HeaderSize"/> bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination) => Write(destination, Type, Flags, RequestId, PayloadLength);

    internal static void Write(Span<byte> destination, FrameType type, FrameFlags flags, uint requestId, int payloadLength)
    {
        var header = destination[..HeaderSize];
        header[MagicOffset] = Magic0;
        header[MagicOffset + 1] = Magic1;
        header[VersionOffset] = ProtocolConstants.Version;
        header[TypeOffset] = (byte)type;
        BinaryPrimitives.WriteUInt16LittleEndian(header[FlagsOffset..], (ushort)flags);
        BinaryPrimitives.WriteUInt16LittleEndian(header[ReservedOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[RequestIdOffset..], requestId);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PayloadLengthOffset..], (uint)payloadLength);
    }

    /// <summary>
    /// Validates a prefix of a header as soon as its bytes exist, so garbage is rejected after two bytes instead of
    /// waiting for sixteen. Throws a fatal <see cref="ProtocolException"/>.
    /// </summary>
    internal static void ValidatePrefix(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length > MagicOffset && prefix[MagicOffset] != Magic0 ||
            prefix.Length > MagicOffset + 1 && prefix[MagicOffset + 1] != Magic1)
        {
            ThrowHelper.Fatal(ErrorCode.BadFrame, "bad magic: not a ModelRouter frame");
        }

        if (prefix.Length > VersionOffset && prefix[VersionOffset] != ProtocolConstants.Version)
        {
            ThrowHelper.Fatal(ErrorCode.UnsupportedVersion, $"unsupported protocol version {prefix[VersionOffset]} (this side speaks {ProtocolConstants.Version})");
        }
    }

    /// <summary>Parses and validates a complete header. Every failure is fatal: framing cannot be trusted.</summary>
    public static FrameHeader Parse(ReadOnlySpan<byte> header, int maxPayloadBytes)
    {
        if (header.Length < HeaderSize)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(header), "a header is 16 bytes");
        }

        ValidatePrefix(header);
        var flags = BinaryPrimitives.ReadUInt16LittleEndian(header[FlagsOffset..]);
        if ((flags & ~FrameFlagsMask.Defined) != 0)
        {
            ThrowHelper.Fatal(ErrorCode.BadFrame, $"undefined header flags 0x{flags:X4}");
        }

        if (BinaryPrimitives.ReadUInt16LittleEndian(header[ReservedOffset..]) != 0)
        {
            ThrowHelper.Fatal(ErrorCode.BadFrame, "reserved header bytes are not zero");
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(header[PayloadLengthOffset..]);
        if (length > (uint)maxPayloadBytes)
        {
            ThrowHelper.TooLarge(length, maxPayloadBytes);
        }

        return new FrameHeader(
            (FrameType)header[TypeOffset],
            (FrameFlags)flags,
            BinaryPrimitives.ReadUInt32LittleEndian(header[RequestIdOffset..]),
            (int)length);
    }
}
