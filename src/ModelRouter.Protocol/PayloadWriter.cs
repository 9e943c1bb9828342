using System.Buffers.Binary;
using System.Text;

namespace ModelRouter.Protocol;

/// <summary>
/// Sequential little-endian writes into a span sized beforehand (see <see cref="PayloadSize"/>); the counterpart of
/// <see cref="PayloadReader"/>.
/// </summary>
public ref struct PayloadWriter
{
    private readonly Span<byte> destination;
    private int position;

    public PayloadWriter(Span<byte> destination)
    {
        this.destination = destination;
        position = 0;
    }

    public readonly int Position => position;

    public void WriteByte(byte value) => Take(1)[0] = value;

    public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), value);

    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), value);

    public void WriteUInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), value);

    public void WriteSingle(float value) => BinaryPrimitives.WriteSingleLittleEndian(Take(4), value);

    public void WriteDouble(double value) => BinaryPrimitives.WriteDoubleLittleEndian(Take(8), value);

    /// <summary>A non-negative count as u32.</summary>
    public void WriteCount(int value) => WriteUInt32((uint)Math.Max(value, 0));

    /// <summary>A non-negative long as u64 (durations in nanoseconds, byte counts); negative values are written as zero.</summary>
    public void WriteInt64(long value) => WriteUInt64((ulong)Math.Max(value, 0));

    public void WriteReserved(int count) => Take(count).Clear();

    public void WriteBytes(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Take(bytes.Length));

    /// <summary>u32 length + the bytes, which the caller guarantees are UTF-8.</summary>
    public void WriteUtf8String(ReadOnlySpan<byte> utf8)
    {
        WriteUInt32((uint)utf8.Length);
        WriteBytes(utf8);
    }

    /// <summary>u32 length + UTF-8 encoding of <paramref name="text"/> (lone surrogates become U+FFFD).</summary>
    public void WriteString(ReadOnlySpan<char> text)
    {
        var lengthSlot = Take(4);
        var written = Encoding.UTF8.GetBytes(text, destination[position..]);
        position += written;
        BinaryPrimitives.WriteUInt32LittleEndian(lengthSlot, (uint)written);
    }

    private Span<byte> Take(int count)
    {
        var slice = destination.Slice(position, count);
        position += count;
        return slice;
    }
}

/// <summary>Sizes of encoded fields, to size a frame before writing it.</summary>
public static class PayloadSize
{
    /// <summary>Encoded size of a string: 4-byte length + its UTF-8 bytes.</summary>
    public static int OfString(ReadOnlySpan<char> text) => 4 + Encoding.UTF8.GetByteCount(text);

    /// <summary>Encoded size of a UTF-8 string: 4-byte length + the bytes.</summary>
    public static int OfUtf8(ReadOnlySpan<byte> utf8) => 4 + utf8.Length;

    /// <summary>Payload size of a generate frame (compare with the server's max payload before sending).</summary>
    public static int Generate(GenerateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Options(request) + OfString(request.Prompt);
    }

    /// <summary>Payload size of a chat frame (compare with the server's max payload before sending).</summary>
    public static int Chat(ChatGenerateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var size = Options(request) + ChatPayload.MessageCountSize;
        var messages = request.Messages;
        for (var i = 0; i < messages.Count; i++)
        {
            size += OfString(messages[i].Role) + OfString(messages[i].Content);
        }

        return size;
    }

    /// <summary>What generate and chat frames share: the fixed part, model, capability and stop sequences.</summary>
    private static int Options(GenerationOptions request)
    {
        var size = GeneratePayload.FixedSize + OfString(request.Model) + OfString(request.RequiredCapability);
        var stops = request.StopSequences;
        for (var i = 0; i < stops.Count; i++)
        {
            size += OfString(stops[i]);
        }

        return HasOutputSpec(request.OutputFormat) ? size + OfString(request.OutputSpec ?? "") : size;
    }

    /// <summary>Whether a frame with this output format carries the schema/grammar string after the stop sequences.</summary>
    internal static bool HasOutputSpec(OutputFormat format) => format is OutputFormat.JsonSchema or OutputFormat.Grammar;

    /// <summary>Payload size of a route frame.</summary>
    public static int Route(RouteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return RoutePayload.FixedSize + OfString(request.RequiredCapability) + OfString(request.Prompt);
    }

    /// <summary>Payload size of an embed frame.</summary>
    public static int Embed(EmbedRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return EmbedPayload.FixedSize + OfString(request.Model) + OfString(request.Text);
    }
}
