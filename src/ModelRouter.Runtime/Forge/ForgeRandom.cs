using System.Numerics;

namespace ModelRouter.Runtime.Forge;

/// <summary>
/// xoshiro256** seeded through SplitMix64: fast, and fixed by its published definition, so forged bytes do not
/// depend on the runtime's <see cref="Random"/> implementation.
/// </summary>
internal struct ForgeRandom
{
    private ulong s0;
    private ulong s1;
    private ulong s2;
    private ulong s3;

    /// <summary>A generator for one stream (e.g. one tensor) of a seed; streams of one seed are independent.</summary>
    public ForgeRandom(ulong seed, ulong stream)
    {
        var x = seed ^ ((stream + 1) * 0x9E3779B97F4A7C15UL);
        s0 = SplitMix(ref x);
        s1 = SplitMix(ref x);
        s2 = SplitMix(ref x);
        s3 = SplitMix(ref x);
    }

    public ulong NextUInt64()
    {
        var result = BitOperations.RotateLeft(s1 * 5, 7) * 9;
        var t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = BitOperations.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [-1, 1).</summary>
    public float NextSignedUnit() => ((NextUInt64() >> 40) * (1f / (1 << 23))) - 1f;

    private static ulong SplitMix(ref ulong x)
    {
        var z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
