using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Forge;

/// <summary>What a tensor is for, which decides how its values are drawn.</summary>
internal enum ForgeTensorKind
{
    /// <summary>A projection or embedding: small random values.</summary>
    Matrix,

    /// <summary>An RMSNorm weight: all ones, as in a freshly initialised model.</summary>
    Norm,

    /// <summary>A bias: small random values.</summary>
    Bias,
}

/// <summary>
/// Generates one tensor's bytes chunk by chunk, directly in the target encoding (quantized blocks are drawn as
/// blocks, not quantized from floats), so an 8B model costs little more than the random numbers and the disk.
/// </summary>
/// <remarks>
/// Values are uniform with a standard deviation of 0.02, the usual initialisation scale: with RMSNorm before
/// every projection, activations and logits stay small and finite at any depth and width.
/// </remarks>
internal struct WeightFiller
{
    // Uniform in [-Amplitude, Amplitude] has standard deviation Amplitude / sqrt(3) = 0.02.
    private const float Amplitude = 0.02f * 1.7320508f;
    private const int HalfTableBits = 12;

    // 4096 evenly spaced half-precision values over [-Amplitude, Amplitude]: one lookup per F16 element.
    private static readonly ushort[] HalfTable = BuildHalfTable();
    private static readonly ushort Q8Scale = HalfBits(Amplitude / 127f);
    private static readonly ushort Q4Scale = HalfBits(Amplitude / 8f);

    private readonly GgmlType type;
    private readonly ForgeTensorKind kind;
    private ForgeRandom random;

    public WeightFiller(GgmlType type, ForgeTensorKind kind, ulong seed, ulong stream)
    {
        if (kind != ForgeTensorKind.Matrix && type != GgmlType.F32)
        {
            throw new ArgumentException($"{kind} tensors are stored as F32, not {type}.", nameof(type));
        }

        if (type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0 or GgmlType.Q4_0))
        {
            throw new ArgumentException($"The forge does not generate {type}.", nameof(type));
        }

        this.type = type;
        this.kind = kind;
        random = new ForgeRandom(seed, stream);
    }

    /// <summary>Fills <paramref name="destination"/>, whose length is a whole number of blocks (or elements).</summary>
    public void Fill(Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F16:
                FillHalf(MemoryMarshal.Cast<byte, ushort>(destination));
                break;
            case GgmlType.Q8_0:
                FillQ8(destination);
                break;
            case GgmlType.Q4_0:
                FillQ4(destination);
                break;
            default:
                FillSingle(MemoryMarshal.Cast<byte, float>(destination));
                break;
        }
    }

    private void FillHalf(Span<ushort> values)
    {
        var table = HalfTable;
        const ulong mask = (1 << HalfTableBits) - 1;
        var i = 0;
        for (; i + 4 <= values.Length; i += 4)
        {
            var r = random.NextUInt64();
            values[i] = table[r & mask];
            values[i + 1] = table[(r >> 16) & mask];
            values[i + 2] = table[(r >> 32) & mask];
            values[i + 3] = table[(r >> 48) & mask];
        }

        for (var r = random.NextUInt64(); i < values.Length; i++, r >>= 16)
        {
            values[i] = table[r & mask];
        }
    }

    private void FillQ8(Span<byte> blocks)
    {
        // block_q8_0: F16 scale d, then 32 signed 8-bit quants; value = q * d.
        for (var at = 0; at < blocks.Length; at += 34)
        {
            var block = blocks.Slice(at, 34);
            BinaryPrimitives.WriteUInt16LittleEndian(block, Q8Scale);
            for (var k = 0; k < 4; k++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(block[(2 + (8 * k))..], random.NextUInt64());
            }
        }
    }

    private void FillQ4(Span<byte> blocks)
    {
        // block_q4_0: F16 scale d, then 16 bytes holding 32 4-bit quants; value = (q - 8) * d.
        for (var at = 0; at < blocks.Length; at += 18)
        {
            var block = blocks.Slice(at, 18);
            BinaryPrimitives.WriteUInt16LittleEndian(block, Q4Scale);
            BinaryPrimitives.WriteUInt64LittleEndian(block[2..], random.NextUInt64());
            BinaryPrimitives.WriteUInt64LittleEndian(block[10..], random.NextUInt64());
        }
    }

    private void FillSingle(Span<float> values)
    {
        if (kind == ForgeTensorKind.Norm)
        {
            values.Fill(1f);
            return;
        }

        for (var i = 0; i < values.Length; i++)
        {
            values[i] = random.NextSignedUnit() * Amplitude;
        }
    }

    private static ushort[] BuildHalfTable()
    {
        var table = new ushort[1 << HalfTableBits];
        for (var i = 0; i < table.Length; i++)
        {
            var unit = (((i + 0.5f) / table.Length) * 2f) - 1f;
            table[i] = HalfBits(unit * Amplitude);
        }

        return table;
    }

    private static ushort HalfBits(float value) => BitConverter.HalfToUInt16Bits((Half)value);
}
