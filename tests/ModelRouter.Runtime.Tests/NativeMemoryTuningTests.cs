using System.Globalization;
using System.Runtime.InteropServices;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Tests;

/// <summary>
/// glibc malloc tuning (Linux with glibc only; elsewhere it says it did nothing). The mechanism the server relies on:
/// once a large block has been freed, glibc's defaults serve later blocks of that size from an arena, whose holes stay
/// resident; with the threshold fixed, such blocks are mapped on their own and go back to the system when freed.
/// </summary>
public sealed unsafe class NativeMemoryTuningTests
{
    private const int Blocks = 64;
    private const nuint BlockBytes = 4 << 20;

    [Fact]
    public void Settings_out_of_glibcs_range_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeMemoryTuning.Apply(new NativeMemorySettings { MmapThresholdBytes = 64 << 20 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeMemoryTuning.Apply(new NativeMemorySettings { ArenaMax = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeMemoryTuning.Apply(new NativeMemorySettings { TrimThresholdBytes = -1 }));
    }

    [Fact]
    public void Freed_blocks_above_the_fixed_threshold_leave_the_resident_set_even_between_live_small_ones()
    {
        if (!NativeMemoryTuning.IsAvailable)
        {
            Assert.Skip("glibc malloc tuning: this process does not run on glibc (Linux only).");
        }

        var line = NativeMemoryTuning.Apply(new NativeMemorySettings());
        if (line.StartsWith("not applied", StringComparison.Ordinal))
        {
            Assert.Skip($"glibc malloc tuning: {line} (the test needs glibc's malloc as the tuning leaves it).");
        }

        Assert.Contains("mmap threshold 1024 KiB (fixed)", line, StringComparison.Ordinal);

        // With the dynamic threshold, freeing this mapped block would raise the threshold above the blocks below.
        NativeMemory.Free(NativeMemory.Alloc(2 * BlockBytes));
        var large = new nint[Blocks];
        var small = new nint[Blocks];
        try
        {
            for (var i = 0; i < Blocks; i++)
            {
                large[i] = (nint)NativeMemory.Alloc(BlockBytes);
                new Span<byte>((void*)large[i], (int)BlockBytes).Fill(1); // resident
                small[i] = (nint)NativeMemory.Alloc(64 << 10); // a live neighbour: the large block's hole cannot shrink off a heap's top
            }

            for (var i = 0; i < Blocks; i++)
            {
                NativeMemory.Free((void*)large[i]);
            }

            // Whether a freed block's pages went back to the system is read from its own address range, not from the
            // process's RSS, which other tests running in parallel move by hundreds of MiB: a block glibc mapped on
            // its own is unmapped by free; one carved from an arena stays inside the arena's mapping.
            var mappings = Mappings();
            var stillMapped = large.Count(p => mappings.Any(m => (ulong)p >= m.Start && (ulong)p < m.End));
            Array.Clear(large);
            Assert.True(stillMapped <= Blocks / 8, $"{stillMapped} of {Blocks} freed {BlockBytes >> 20} MiB blocks are still mapped (served from an arena)");
        }
        finally
        {
            foreach (var p in large.Concat(small).Where(p => p != 0))
            {
                NativeMemory.Free((void*)p);
            }
        }
    }

    private static List<(ulong Start, ulong End)> Mappings() =>
        [.. File.ReadLines("/proc/self/maps").Select(line =>
        {
            var range = line.AsSpan(0, line.IndexOf(' ', StringComparison.Ordinal));
            var dash = range.IndexOf('-');
            return (ulong.Parse(range[..dash], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                ulong.Parse(range[(dash + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        })];
}
