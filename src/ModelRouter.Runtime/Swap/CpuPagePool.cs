using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The shim's CPU page pool (process-wide): evicted CPU regions keep their committed pages for the next restore or
/// load instead of handing them back to the kernel, up to a limit on the bytes committed in regions plus those kept.
/// Why: a restore into fresh pages pays a page fault and the kernel's zeroing per page, and on a VM whose balloon
/// reports free memory to the host (free page reporting, as on this project's development VMs) a hypervisor fault as
/// well once the pages have been free for about two seconds: a 160 MB restore then took 360-700 ms instead of 28 ms.
/// Kept pages make a restore a copy into memory that is already there. The cost: the process keeps its peak of
/// committed weight memory, up to the limit, as a GPU keeps its VRAM whether a model uses it or not.
/// <para>In builds without the CPU region (CUDA, other systems) every call is a no-op that says so.</para>
/// </summary>
public static unsafe class CpuPagePool
{
    /// <summary>Sets the process-wide limit; 0 turns the pool off and hands every kept page back. False where this build
    /// has no CPU region (nothing to keep).</summary>
    public static bool SetLimit(long limitBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limitBytes);
        NativeRuntime.EnsureInitialized();
        return MrShim.mr_swap_cpu_page_pool_limit((ulong)limitBytes) == mr_status.MR_STATUS_OK;
    }

    /// <summary>Raises the limit to at least <paramref name="limitBytes"/> (several pools in one process: the largest
    /// budget wins, none shrinks another's). False where this build has no CPU region.</summary>
    public static bool RaiseLimit(long limitBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limitBytes);
        var now = Read();
        return now is not null && (now.Value.LimitBytes >= limitBytes || SetLimit(limitBytes));
    }

    /// <summary>The pool's figures now, or null where this build has no CPU region.</summary>
    public static CpuPagePoolStats? Read()
    {
        NativeRuntime.EnsureInitialized();
        mr_cpu_page_pool_stats stats;
        if (MrShim.mr_swap_cpu_page_pool_stats(&stats) != mr_status.MR_STATUS_OK)
        {
            return null;
        }

        return new CpuPagePoolStats(
            (long)stats.limit_bytes, (long)stats.committed_bytes, (long)stats.pooled_bytes,
            (long)stats.reused_bytes, (long)stats.fresh_bytes, (long)stats.kept_bytes, (long)stats.dropped_bytes);
    }
}

/// <summary>
/// The CPU page pool's figures. <see cref="CommittedBytes"/> and <see cref="PooledBytes"/> are now; the rest are totals
/// since the process started: bytes committed from the pool (<see cref="ReusedBytes"/>) or as fresh pages
/// (<see cref="FreshBytes"/>), and bytes a release moved into the pool (<see cref="KeptBytes"/>) or handed back
/// (<see cref="DroppedBytes"/>).
/// </summary>
public readonly record struct CpuPagePoolStats(
    long LimitBytes, long CommittedBytes, long PooledBytes, long ReusedBytes, long FreshBytes, long KeptBytes, long DroppedBytes);
