using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace ModelRouter.Runtime.Native;

/// <summary>
/// glibc malloc settings for a server whose native memory comes and goes in megabytes: every swap may free a model's
/// contexts (KV cache, output buffer, graph metadata, the CPU backend's work buffer) and create them again later, on
/// whichever worker thread serves next. With glibc's defaults that memory is not given back. Its mmap threshold is
/// dynamic: once a block served by mmap is freed, the threshold rises to that block's size (up to 32 MiB), so later
/// blocks of that size come from malloc's arenas instead, and a thread that is not the main one has an arena of its own
/// (up to 8 per core), whose heaps shrink only from the top: a soak measured the server's RSS growing by 14% in two
/// minutes after warm-up, nearly all of it in 48-69 MB anonymous mappings, the arenas' heaps.
/// <para>
/// <see cref="Apply"/> fixes the mmap threshold (which also turns the dynamic raise off), so blocks above it are
/// mapped and unmapped on their own and return to the system when freed; caps the arenas; and lowers the trim
/// threshold so a heap's free top is given back. Measured with the soak (docs/benchmarks.md): RSS flat after warm-up
/// instead of growing, at a lower level; malloc_trim after each swap was not needed for that.
/// </para>
/// <para>
/// Linux with glibc only: the calls are looked up in libc.so.6 at run time, so that on musl, macOS or Windows (other
/// allocators, other knobs) this is a no-op that says so, instead of a missing entry point.
/// </para>
/// </summary>
public static unsafe partial class NativeMemoryTuning
{
    // glibc's <malloc.h> parameter numbers for mallopt.
    private const int MTrimThreshold = -1;
    private const int MMmapThreshold = -3;
    private const int MArenaMax = -8;

    private static readonly Lock Gate = new();
    private static bool resolved;
    private static delegate* unmanaged<int, int, int> mallopt;

    /// <summary>True where the process runs on glibc and the calls were found.</summary>
    public static bool IsAvailable
    {
        get
        {
            Resolve();
            return mallopt != null;
        }
    }

    /// <summary>
    /// Sets the mmap threshold, the arena cap and the trim threshold, and logs what it set (event 1001). Call it at
    /// process start, before the native work begins (blocks already in an arena stay there). An operator's own malloc
    /// settings win: with MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_ and the like, or glibc.malloc tunables in
    /// GLIBC_TUNABLES, nothing is changed. Returns the line it logged.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting out of glibc's range.</exception>
    public static string Apply(NativeMemorySettings settings, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        // glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MmapThresholdBytes, 0, nameof(settings.MmapThresholdBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(settings.MmapThresholdBytes, 32 << 20, nameof(settings.MmapThresholdBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.ArenaMax, 0, nameof(settings.ArenaMax));
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.TrimThresholdBytes, 0, nameof(settings.TrimThresholdBytes));
        var line = Set(settings);
        if (logger is not null)
        {
            Applied(logger, line);
        }

        return line;
    }

    private static string Set(NativeMemorySettings settings)
    {
        Resolve();
        if (mallopt == null)
        {
            return "not applied (not Linux with glibc)";
        }

        if (OperatorSettings() is { } own)
        {
            return $"not applied: the environment sets malloc itself ({own})";
        }

        // mallopt returns 1 on success, 0 on a value it refuses; 0 in a setting means "leave glibc's default".
        var applied = new List<string>(3);
        if (settings.MmapThresholdBytes > 0 && mallopt(MMmapThreshold, settings.MmapThresholdBytes) == 1)
        {
            applied.Add($"mmap threshold {settings.MmapThresholdBytes >> 10} KiB (fixed)");
        }

        if (settings.ArenaMax > 0 && mallopt(MArenaMax, settings.ArenaMax) == 1)
        {
            applied.Add($"at most {settings.ArenaMax} arenas");
        }

        if (settings.TrimThresholdBytes > 0 && mallopt(MTrimThreshold, settings.TrimThresholdBytes) == 1)
        {
            applied.Add($"trim threshold {settings.TrimThresholdBytes >> 10} KiB");
        }

        return applied.Count == 0 ? "nothing applied" : string.Join(", ", applied);
    }

    /// <summary>The first malloc setting the environment makes (glibc reads these at start), or null.</summary>
    private static string? OperatorSettings()
    {
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { } tunables && tunables.Contains("glibc.malloc.", StringComparison.Ordinal))
        {
            return "GLIBC_TUNABLES";
        }

        string[] names = ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"];
        return names.FirstOrDefault(n => Environment.GetEnvironmentVariable(n) is not null);
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Native memory tuning (glibc malloc): {Settings}")]
    private static partial void Applied(ILogger logger, string settings);

    private static void Resolve()
    {
        if (Volatile.Read(ref resolved))
        {
            return;
        }

        lock (Gate)
        {
            // gnu_get_libc_version exists only in glibc: another libc that also ships a libc.so.6 is left alone.
            if (!resolved && OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libc.so.6", out var libc)
                && NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _)
                && NativeLibrary.TryGetExport(libc, "mallopt", out var setter))
            {
                mallopt = (delegate* unmanaged<int, int, int>)setter;
            }

            Volatile.Write(ref resolved, true);
        }
    }
}

/// <summary>What <see cref="NativeMemoryTuning.Apply"/> sets; 0 leaves glibc's default.</summary>
public sealed record NativeMemorySettings
{
    /// <summary>Blocks this large or larger are mapped on their own and unmapped when freed (glibc: 128 KiB, rising up to 32 MiB).</summary>
    public int MmapThresholdBytes { get; init; } = 1 << 20;

    /// <summary>Most malloc arenas (glibc: 8 per core).</summary>
    public int ArenaMax { get; init; } = 2;

    /// <summary>A free top of a heap this large is given back (glibc: 128 KiB, dynamic).</summary>
    public int TrimThresholdBytes { get; init; } = 1 << 20;
}
