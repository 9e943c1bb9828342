using System.Buffers.Binary;

namespace ModelRouter.Protocol.Tests;

/// <summary>
/// Deterministic fuzz inputs from seed frames: payload mutations that keep the header consistent (to reach the
/// payload readers), header mutations, concatenations, random bytes. Depends only on ModelRouter.Protocol, so a server
/// test project can link this file to fuzz a live server with the same inputs.
/// </summary>
public sealed class FrameMutator
{
    private readonly Random random;
    private readonly byte[][] seeds;

    public FrameMutator(int seed, IReadOnlyList<byte[]> seedFrames)
    {
        random = new Random(seed);
        seeds = [.. seedFrames];
    }

    /// <summary>The next input: one or more (possibly broken) frames as they would arrive on a connection.</summary>
    public byte[] Next()
    {
        var kind = random.Next(100);
        return kind switch
        {
            < 45 => MutatePayload(PickSeed()),
            < 65 => MutateAnywhere(PickSeed()),
            < 75 => Concatenate(),
            < 85 => RandomPayloadValidHeader(),
            < 92 => Truncate(PickSeed()),
            _ => RandomBytes(random.Next(1, 64)),
        };
    }

    /// <summary>Random cut points for splitting an input into segments (ascending, inside the input).</summary>
    public int[] Cuts(int length)
    {
        if (length < 2 || random.Next(3) == 0)
        {
            return [];
        }

        var count = random.Next(1, Math.Min(8, length));
        return Enumerable.Range(0, count).Select(_ => random.Next(1, length)).Distinct().Order().ToArray();
    }

    private byte[] PickSeed() => (byte[])seeds[random.Next(seeds.Length)].Clone();

    private byte[] MutatePayload(byte[] frame)
    {
        if (frame.Length == ProtocolConstants.HeaderSize)
        {
            return MutateAnywhere(frame);
        }

        var payload = new List<byte>(frame[ProtocolConstants.HeaderSize..]);
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits; e++)
        {
            switch (random.Next(6))
            {
                case 0 when payload.Count > 0:
                    payload[random.Next(payload.Count)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when payload.Count > 0:
                    payload[random.Next(payload.Count)] = Interesting();
                    break;
                case 2:
                    payload.Insert(random.Next(payload.Count + 1), (byte)random.Next(256));
                    break;
                case 3 when payload.Count > 0:
                    payload.RemoveAt(random.Next(payload.Count));
                    break;
                case 4 when payload.Count >= 4:
                    var at = random.Next(payload.Count - 3);
                    var value = random.Next(4) switch { 0 => uint.MaxValue, 1 => 0x8000_0000u, 2 => (uint)random.Next(0, 300), _ => (uint)random.Next() };
                    var bytes = new byte[4];
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
                    for (var i = 0; i < 4; i++)
                    {
                        payload[at + i] = bytes[i];
                    }

                    break;
                default:
                    if (payload.Count > 0)
                    {
                        payload.RemoveRange(random.Next(payload.Count), 1);
                    }

                    break;
            }
        }

        return WithPayload(frame, [.. payload]);
    }

    private byte[] MutateAnywhere(byte[] frame)
    {
        var edits = random.Next(1, 3);
        for (var e = 0; e < edits; e++)
        {
            var at = random.Next(frame.Length);
            frame[at] = random.Next(2) == 0 ? (byte)(frame[at] ^ (1 << random.Next(8))) : Interesting();
        }

        return frame;
    }

    private byte[] Concatenate()
    {
        var count = random.Next(2, 6);
        return Enumerable.Range(0, count).SelectMany(_ => random.Next(3) == 0 ? MutatePayload(PickSeed()) : PickSeed()).ToArray();
    }

    private byte[] RandomPayloadValidHeader()
    {
        var frame = PickSeed();
        frame[ProtocolConstants.TypeOffset] = random.Next(4) == 0 ? (byte)random.Next(256) : frame[ProtocolConstants.TypeOffset];
        return WithPayload(frame, RandomBytes(random.Next(0, 128)));
    }

    private byte[] Truncate(byte[] frame) => frame[..random.Next(frame.Length)];

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private byte Interesting() => random.Next(6) switch
    {
        0 => 0,
        1 => 0xFF,
        2 => 0x7F,
        3 => 0x80,
        4 => 1,
        _ => (byte)random.Next(256),
    };

    private static byte[] WithPayload(byte[] frame, byte[] payload)
    {
        var result = new byte[ProtocolConstants.HeaderSize + payload.Length];
        frame.AsSpan(0, ProtocolConstants.HeaderSize).CopyTo(result);
        payload.CopyTo(result, ProtocolConstants.HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(ProtocolConstants.PayloadLengthOffset), (uint)payload.Length);
        return result;
    }
}
