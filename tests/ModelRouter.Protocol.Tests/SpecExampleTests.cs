using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Protocol.Tests;

/// <summary>
/// docs/protocol.md and the code agree: every <c>```hex NAME</c> block of the specification is the frame that its
/// description assembles field by field from the wire diagram and the layout tables (<see cref="HandAssembled"/>, which
/// uses no code under test), it decodes to exactly the values the sample of that name was written with, and the
/// writers produce those bytes exactly. The writer is checked against the specification, never the other way round.
/// </summary>
public sealed partial class SpecExampleTests
{
    [GeneratedRegex(@"^```hex (?<name>[a-z-]+)\n(?<hex>.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex HexBlock();

    private static string SpecPath() => Path.Combine(TestRepository.Root, "docs", "protocol.md");

    private static Dictionary<string, byte[]> Examples()
    {
        var text = File.ReadAllText(SpecPath()).ReplaceLineEndings("\n");
        var examples = new Dictionary<string, byte[]>();
        foreach (Match match in HexBlock().Matches(text))
        {
            var bytes = match.Groups["hex"].Value
                .Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
                .Select(h => byte.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture))
                .ToArray();
            examples.Add(match.Groups["name"].Value, bytes);
        }

        return examples;
    }

    [Fact]
    public void EveryMessageKindHasAnExampleInTheSpecification()
    {
        var examples = Examples();
        var missing = SampleFrames.All.Where(s => !examples.ContainsKey(s.Name)).Select(s => s.Name).ToList();
        Assert.True(missing.Count == 0, "docs/protocol.md lacks examples for: " + string.Join(", ", missing));
        Assert.All(Enum.GetValues<FrameType>(), t => Assert.Contains(SampleFrames.All, s => s.Type == t));
    }

    [Fact]
    public void EveryExampleDecodesToTheDocumentedValues()
    {
        foreach (var (name, bytes) in Examples())
        {
            var sample = SampleFrames.All.SingleOrDefault(s => s.Name == name);
            Assert.True(sample is not null, $"example '{name}' names no sample");
            foreach (var buffer in new[] { new ReadOnlySequence<byte>(bytes), Segments.ByteByByte(bytes) })
            {
                var remaining = buffer;
                Assert.True(FrameReader.TryReadFrame(ref remaining, ProtocolLimits.Default, out var frame), name);
                Assert.True(remaining.IsEmpty, name);
                Assert.Equal(sample.Type, frame.Type);
                Assert.Equal(sample.RequestId, frame.RequestId);
                using var payload = frame.LeasePayload();
                sample.Verify(payload.Span);
            }
        }
    }

    [Fact]
    public void TheWritersProduceTheExampleBytes()
    {
        var examples = Examples();
        foreach (var sample in SampleFrames.All)
        {
            if (examples.TryGetValue(sample.Name, out var bytes))
            {
                var written = sample.Encode();
                Assert.True(bytes.AsSpan().SequenceEqual(written), $"example '{sample.Name}' differs from the writer; it writes:\n{Dump(sample)}");
            }
        }
    }

    [Fact]
    public void EveryExampleIsTheFrameItsDescriptionAssemblesFromTheWireDiagram()
    {
        var examples = Examples();
        Assert.Equal(HandAssembled.All.Keys.Order(), examples.Keys.Order());
        foreach (var (name, expected) in HandAssembled.All)
        {
            Assert.True(expected.AsSpan().SequenceEqual(examples[name]),
                $"docs/protocol.md's '{name}' block is not the frame its description and the layout tables give:\n{Hex(name, expected)}");
        }
    }

    [Fact]
    public void TheWritersProduceTheHandAssembledBytes()
    {
        foreach (var sample in SampleFrames.All)
        {
            Assert.True(HandAssembled.All.TryGetValue(sample.Name, out var expected), $"no hand-assembled frame for '{sample.Name}'");
            var written = sample.Encode();
            Assert.True(expected.AsSpan().SequenceEqual(written), $"the writer's '{sample.Name}' differs from the wire diagram; it writes:\n{Dump(sample)}");
        }
    }

    private static string Dump(SampleFrame sample) => Hex(sample.Name, sample.Encode());

    private static string Hex(string name, byte[] bytes)
    {
        var text = new StringBuilder();
        text.Append("```hex ").Append(name).Append('\n');
        for (var i = 0; i < bytes.Length; i += 16)
        {
            text.AppendJoin(' ', bytes.Skip(i).Take(16).Select(b => b.ToString("x2", CultureInfo.InvariantCulture))).Append('\n');
        }

        return text.Append("```\n\n").ToString();
    }
}

/// <summary>
/// The specification's examples assembled by hand from section 2's header diagram and section 5's layout tables, with
/// the values each example's description states: little-endian integers, <c>str</c> = u32 length + UTF-8. Nothing
/// here calls the protocol library, so a writer that drifts from the specification cannot drag the examples along.
/// </summary>
internal static class HandAssembled
{
    private const byte Final = 1;

    public static readonly Dictionary<string, byte[]> All = new()
    {
        ["hello"] = Frame(0x01, 0, 0, p => p.U16(1).U16(0).Str("demo/1.0").Str("s3cret")),
        ["hello-ok"] = Frame(0x02, Final, 0, p => p.U16(1).U16(0).U32(1 << 20).U32(256 << 10).U32(4096).U32(32).U64(7).Str("ModelRouter.Native/0.1")),
        ["generate-routed"] = Frame(0x10, 0, 1, p => p.U32(64).U32(40).F32(0.7f).F32(0.9f).U64(42).F32(2.5f).U8(2).U8(1).U16(0)
            .Str("").Str("chat").Str("Write a haiku about PCIe.").Str("\n\n")),
        ["generate-named"] = Frame(0x10, 0, 2, p => p.U32(16).U32(0).F32(0).F32(0).U64(0).F32(0).U8(0).U8(0).U16(0)
            .Str("qwen-coder-1.5b").Str("").Str("fn main() {")),
        ["generate-grammar"] = Frame(0x10, 0, 13, p => p.U32(8).U32(0).F32(0).F32(0).U64(0).F32(0).U8(0).U8(0).U8(3).U8(0)
            .Str("tiny").Str("").Str("Yes or no?").Str("root ::= \"yes\" | \"no\"")),
        ["generate-forwarded"] = Frame(0x10, 0, 14, p => p.U32(16).U32(0).F32(0.8f).F32(0.95f).U64(0).F32(0).U8(0).U8(0).U8(0).U8(1)
            .Str("qwen-coder-1.5b").Str("").Str("fn main() {")),
        ["chat"] = Frame(0x17, 0, 10, p => p.U32(128).U32(20).F32(0.5f).F32(0.9f).U64(7).F32(1.0f).U8(2).U8(1).U16(0).Str("").Str("")
            .U16(4).Str("system").Str("Be brief.").Str("user").Str("Hi").Str("assistant").Str("Hello!").Str("user").Str("What is PCIe?")
            .Str("User:")),
        ["token-chunk"] = Frame(0x20, 0, 1, p => p.U32(1).Str("Lanes")),
        ["token-chunk-text"] = Frame(0x20, 0, 1, p => p.U32(3).Str(" \u2603 snow")),
        ["done"] = Frame(0x21, Final, 1, p => p.U8(2).U8(0).U16(0).U32(9).U32(64).F32(412.5f)
            .U64(3_250).U64(1_500_000).U64(38_000_000).U64(45_000_000).U64(200_000_000).Str("llama-3.2-1b").Str("chat")),
        ["done-staged"] = Frame(0x21, Final, 11, p => p.U8(2).U8(3).U16(39_321).U32(9).U32(64).F32(412.5f)
            .U64(3_250).U64(1_500_000).U64(38_000_000).U64(45_000_000).U64(200_000_000).Str("qwen-coder").Str("code")),
        ["done-cached"] = Frame(0x21, Final, 13, p => p.U8(2).U8(0).U16(0).U32(9).U32(64).F32(412.5f)
            .U64(3_250).U64(1_500_000).U64(38_000_000).U64(45_000_000).U64(200_000_000).Str("llama-3.2-1b").Str("chat").U32(8)),
        ["done-node"] = Frame(0x21, Final, 16, p => p.U8(2).U8(0).U16(0).U32(9).U32(64).F32(412.5f)
            .U64(3_250).U64(1_500_000).U64(38_000_000).U64(45_000_000).U64(200_000_000).Str("llama-3.2-1b").Str("chat").U32(8).Str("gpu-box-2").Str("OnDevice")),
        ["cancel"] = Frame(0x13, 0, 1, _ => { }),
        ["route"] = Frame(0x11, 0, 3, p => p.F32(1.0f).U8(1).U8(0).U16(0).Str("").Str("Summarize this.")),
        ["route-result"] = Frame(0x22, Final, 3, p => p.U64(2_900).F32(0.875f).U8(2).U8(2).U16(0)
            .Str("llama-3.2-1b").Str("chat").Str("hybrid: capability chat, cheapest resident").Str("qwen-0.5b").Str("local-tiny")),
        ["route-result-staged"] = Frame(0x22, Final, 12, p => p.U64(850_000).F32(0.6f).U8(1).U8(0).U8(3).U8(0)
            .Str("qwen-coder").Str("code").Str("stage encoder (0.60)")),
        ["embed"] = Frame(0x12, 0, 4, p => p.U8(1).U8(0).U16(0).Str("embed-small").Str("h\u00e9llo")),
        ["embed-result"] = Frame(0x23, Final, 4, p => p.U32(3).Str("embed-small").U32(4).F32(0.5f).F32(-0.25f).F32(0.125f).F32(1.0f)),
        ["list-models"] = Frame(0x14, 0, 5, _ => { }),
        ["model-list"] = Frame(0x24, Final, 5, p => p.U16(2).U16(0)
            .Str("llama-3.2-1b").U8(1).U8(3).U8(2).U8(1).U64(1_300_000_000).F32(1f).U32(2).U32(1).U16(2).Str("chat").Str("summarize")
            .Str("embed-small").U8(2).U8(1).U8(3).U8(2).U64(90_000_000).F32(0.1f).U32(0).U32(0).U16(1).Str("embed")),
        ["get-stats"] = Frame(0x15, 0, 6, _ => { }),
        ["stats"] = Frame(0x25, Final, 6, p => p.U64(3_600_000_000_000).U32(3).U32(5).U32(7).U32(2).U64(1234).U64(98_765).U64(42).U64(1)
            .U64(6UL << 30).U64(80UL << 30).U64(20UL << 30).F32(0.25f).U16(1).U16(0).Str("swap_p99_ms").F64(41.5)),
        ["admin"] = Frame(0x16, 0, 7, p => p.U8(2).U8(0).U16(0).Str("llama-3.2-1b")),
        ["admin-result"] = Frame(0x26, Final, 7, p => p.U8(2).U8(1).U8(3).U8(0).U64(12_000).Str("llama-3.2-1b").Str("pinned")),
        ["error"] = Frame(0x27, Final, 2, p => p.U16(301).U16(0).Str("no model named 'gpt-5'")),
        ["ping"] = Frame(0x03, 0, 9, p => p.U64(0x0102030405060708)),
        ["pong"] = Frame(0x04, Final, 9, p => p.U64(0x0102030405060708)),
        ["go-away"] = Frame(0x05, 0, 0, p => p.Str("shutting down")),
    };

    /// <summary>'M' 'R', version 1, type, flags (u16), reserved (u16), request id (u32), payload length (u32), payload.</summary>
    private static byte[] Frame(byte type, ushort flags, uint requestId, Action<Payload> write)
    {
        var payload = new Payload();
        write(payload);
        var frame = new Payload().U8(0x4D).U8(0x52).U8(1).U8(type).U16(flags).U16(0).U32(requestId).U32((uint)payload.Bytes.Count);
        frame.Bytes.AddRange(payload.Bytes);
        return [.. frame.Bytes];
    }

    private sealed class Payload
    {
        public List<byte> Bytes { get; } = [];

        public Payload U8(byte value)
        {
            Bytes.Add(value);
            return this;
        }

        public Payload U16(ushort value) => Little(value, 2);

        public Payload U32(uint value) => Little(value, 4);

        public Payload U64(ulong value) => Little(value, 8);

        public Payload F32(float value) => U32(BitConverter.SingleToUInt32Bits(value));

        public Payload F64(double value) => U64(BitConverter.DoubleToUInt64Bits(value));

        public Payload Str(string value)
        {
            var utf8 = Encoding.UTF8.GetBytes(value);
            U32((uint)utf8.Length);
            Bytes.AddRange(utf8);
            return this;
        }

        private Payload Little(ulong value, int size)
        {
            for (var i = 0; i < size; i++)
            {
                Bytes.Add((byte)(value >> (8 * i)));
            }

            return this;
        }
    }
}
