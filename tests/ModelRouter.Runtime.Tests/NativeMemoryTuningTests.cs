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
    // 1 GiB of address space in all, never touched: holes that earlier tests in this process left in the arenas (which
    // a block that fits them reuses, rightly) hold far less than half of it, so the bound below tells the fixed threshold
    // from the dynamic one (which would put every block in an arena) whatever ran before.
    private const int Blocks = 256;
    private const nuint BlockBytes = 4 << 20;

    // glibc's malloc_chunk: the size word before a block carries PREV_INUSE (1), IS_MMAPPED (2), NON_MAIN_ARENA (4).
    private const nuint IsMmapped = 2;

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
                small[i] = (nint)NativeMemory.Alloc(64 << 10); // a live neighbour: the large block's hole cannot shrink off a heap's top
            }

            // Whether glibc mapped a block on its own (so that free unmaps it and its pages leave the resident set) is
            // read from the block's chunk header, not from the process's RSS or address map, which other tests running
            // in parallel move and reuse: glibc sets IS_MMAPPED (bit 1 of the size word just before the block) on
            // chunks it mapped by themselves; one carved from an arena, whose hole would stay resident, has it clear.
            // With glibc's dynamic threshold (raised to 8 MiB by the free above) every block would grow an arena; with
            // the fixed one, only a block that fits a hole an arena already has (left by other tests in this process)
            // is served from it, which reuses memory rather than growing it.
            var fromArena = large.Count(p => (*(nuint*)(p - IntPtr.Size) & IsMmapped) == 0);
            Assert.True(fromArena < Blocks / 2, $"{fromArena} of {Blocks} {BlockBytes >> 20} MiB blocks came from an arena, not a mapping of their own");
        }
        finally
        {
            foreach (var p in large.Concat(small).Where(p => p != 0))
            {
                NativeMemory.Free((void*)p);
            }
        }
    }
}
