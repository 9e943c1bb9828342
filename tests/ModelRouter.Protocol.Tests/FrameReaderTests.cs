using System.Buffers;
using System.Buffers.Binary;

namespace ModelRouter.Protocol.Tests;

/// <summary>Framing errors: detected from the header, as early as the bytes allow, whole and split.</summary>
public sealed class FrameReaderTests
{
    private static byte[] Header(byte type = (byte)FrameType.Ping, ushort flags = 0, ushort reserved = 0, uint requestId = 1, uint length = 8)
    {
        var header = new byte[ProtocolConstants.HeaderSize];
        header[0] = ProtocolConstants.Magic0;
        header[1] = ProtocolConstants.Magic1;
        header[2] = ProtocolConstants.Version;
        header[3] = type;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(ProtocolConstants.FlagsOffset), flags);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(ProtocolConstants.ReservedOffset), reserved);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(ProtocolConstants.RequestIdOffset), requestId);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(ProtocolConstants.PayloadLengthOffset), length);
        return header;
    }

    private static IEnumerable<ReadOnlySequence<byte>> Shapes(byte[] bytes)
    {
        yield return new ReadOnlySequence<byte>(bytes);
        yield return Segments.ByteByByte(bytes);
        for (var cut = 1; cut < bytes.Length; cut++)
        {
            yield return Segments.Split(bytes, cut);
        }
    }

    private static ProtocolException ReadFails(ReadOnlySequence<byte> buffer, ProtocolLimits? limits = null)
    {
        var l = limits ?? ProtocolLimits.Default;
        return Assert.Throws<ProtocolException>(() => FrameReader.TryReadFrame(ref buffer, l, out _));
    }

    [Fact]
    public void OversizeDeclaredLengthIsRejectedFromTheHeaderAloneBeforeTheBodyArrives()
    {
        var limits = ProtocolLimits.Default with { MaxPayloadBytes = 1000 };
        var header = Header(type: (byte)FrameType.Generate, length: 1001);
        foreach (var shape in Shapes(header))
        {
            var error = ReadFails(shape, limits);
            Assert.Equal(ErrorCode.FrameTooLarge, error.Code);
            Assert.True(error.IsFatal);
        }

        var atLimit = new ReadOnlySequence<byte>(Header(type: (byte)FrameType.Generate, length: 1000));
        Assert.False(FrameReader.TryReadFrame(ref atLimit, limits, out _)); // waits for the body
    }

    [Fact]
    public void UInt32MaxLengthIsRejected()
    {
        var error = ReadFails(new ReadOnlySequence<byte>(Header(length: uint.MaxValue)));
        Assert.Equal(ErrorCode.FrameTooLarge, error.Code);
    }

    [Fact]
    public void HandshakeLimitsAreSmaller()
    {
        var limits = ProtocolLimits.Default.ForHandshake();
        Assert.Equal(ProtocolLimits.DefaultMaxHelloPayloadBytes, limits.MaxPayloadBytes);
        var error = ReadFails(new ReadOnlySequence<byte>(Header(type: (byte)FrameType.Hello, length: 5000)), limits);
        Assert.Equal(ErrorCode.FrameTooLarge, error.Code);
    }

    [Fact]
    public void BadMagicIsRejectedAfterItsFirstByte()
    {
        var buffer = new ReadOnlySequence<byte>("G"u8.ToArray()); // "GET / HTTP/1.1" to the wrong port
        var error = ReadFails(buffer);
        Assert.Equal(ErrorCode.BadFrame, error.Code);
        Assert.True(error.IsFatal);
        Assert.Equal(ErrorCode.BadFrame, ReadFails(new ReadOnlySequence<byte>(new byte[] { ProtocolConstants.Magic0, 0 })).Code);
    }

    [Fact]
    public void UnsupportedVersionIsFatal()
    {
        var header = Header();
        header[ProtocolConstants.VersionOffset] = 2;
        foreach (var shape in Shapes(header))
        {
            var error = ReadFails(shape);
            Assert.Equal(ErrorCode.UnsupportedVersion, error.Code);
            Assert.True(error.IsFatal);
        }

        Assert.Equal(ErrorCode.UnsupportedVersion, ReadFails(new ReadOnlySequence<byte>(header.AsMemory(0, 3))).Code);
    }

    [Theory]
    [InlineData((ushort)0x0002, (ushort)0)]
    [InlineData((ushort)0x8000, (ushort)0)]
    [InlineData((ushort)0, (ushort)1)]
    [InlineData((ushort)0, (ushort)0x100)]
    public void UndefinedFlagsAndReservedBytesAreFatal(ushort flags, ushort reserved)
    {
        foreach (var shape in Shapes(Header(flags: flags, reserved: reserved)))
        {
            var error = ReadFails(shape);
            Assert.Equal(ErrorCode.BadFrame, error.Code);
            Assert.True(error.IsFatal);
        }
    }

    [Theory]
    [InlineData((byte)0x00)]
    [InlineData((byte)0x06)]
    [InlineData((byte)0x18)]
    [InlineData((byte)0x28)]
    [InlineData((byte)0xFF)]
    public void UnknownTypeIsSkippedAndReportedWithItsRequestId(byte type)
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write(Header(type: type, requestId: 77, length: 3));
        output.Write(new byte[] { 1, 2, 3 });
        FrameWriter.WritePing(output, 78, 5);
        var bytes = output.WrittenSpan.ToArray();
        foreach (var shape in Shapes(bytes))
        {
            var buffer = shape;
            var error = Assert.Throws<ProtocolException>(() => FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out _));
            Assert.Equal(ErrorCode.UnknownFrameType, error.Code);
            Assert.Equal(77u, error.RequestId);
            Assert.False(error.IsFatal);
            Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var next)); // the next frame is intact
            Assert.Equal(78u, next.RequestId);
            Assert.True(buffer.IsEmpty);
        }
    }

    [Fact]
    public void UnknownTypeWaitsForItsWholeBodyBeforeSkipping()
    {
        var bytes = Header(type: 0x7E, length: 10).Concat(new byte[5]).ToArray();
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.False(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out _));
        Assert.Equal(bytes.Length, buffer.Length);
    }

    [Fact]
    public void EmptyBufferNeedsMoreData()
    {
        var buffer = ReadOnlySequence<byte>.Empty;
        Assert.False(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out _));
    }

    [Fact]
    public void ZeroLengthPayloadIsAFrame()
    {
        var buffer = new ReadOnlySequence<byte>(Header(type: (byte)FrameType.ListModels, length: 0));
        Assert.True(FrameReader.TryReadFrame(ref buffer, ProtocolLimits.Default, out var frame));
        Assert.Equal(FrameType.ListModels, frame.Type);
        Assert.True(frame.Payload.IsEmpty);
    }

    [Fact]
    public void HeaderRoundTrips()
    {
        var header = new FrameHeader(FrameType.Done, FrameFlags.Final, 0xDEADBEEF, 1234);
        var bytes = new byte[ProtocolConstants.HeaderSize];
        header.Write(bytes);
        Assert.Equal(header, FrameHeader.Parse(bytes, 2000));
        Assert.Equal(ProtocolConstants.HeaderSize + 1234, header.FrameLength);
    }

    [Fact]
    public void FrameTypesAreClassifiedByDirection()
    {
        foreach (var type in Enum.GetValues<FrameType>())
        {
            Assert.True(FrameTypes.IsDefined(type));
            Assert.True(FrameTypes.IsClientToServer(type) || FrameTypes.IsServerToClient(type));
        }

        Assert.True(FrameTypes.IsClientToServer(FrameType.Generate));
        Assert.False(FrameTypes.IsClientToServer(FrameType.TokenChunk));
        Assert.False(FrameTypes.IsServerToClient(FrameType.Generate));
        Assert.False(FrameTypes.IsTerminal(FrameType.TokenChunk));
        Assert.True(FrameTypes.IsTerminal(FrameType.Error));
        Assert.False(FrameTypes.IsDefined((FrameType)0x30));
    }
}
