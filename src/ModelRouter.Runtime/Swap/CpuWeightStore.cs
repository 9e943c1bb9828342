using ModelRouter.Interop;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The CPU path. Where the shim has the CPU swap region (CPU builds on Linux) the model is kept exactly as on CUDA:
/// the first restore loads it once (load mode None, so every weight, repacked or not, is allocated) with its buffers
/// carved from the region's reserved range, and captures a host image of those prepared bytes; evict releases the
/// region's pages (the process's RSS falls by the weights' size) while the llama_model, its tensor pointers and its
/// contexts stay alive; restore commits the pages again and copies the image back, bit-exact. Before the first load the
/// warm tier is the GGUF read once into the page cache (read, never mapped); after it, the host image, which is
/// anonymous memory of ours: nothing the model serves from depends on the file staying as it was.
/// <para>
/// The file's identity (<see cref="ModelFileIdentity"/>) is recorded at registration and checked with its content before
/// every read of the file (first load, reload) and again after the load; llama.cpp loads with load mode None and lazy
/// reads off, so it reads the file into buffers and never keeps it mapped. A restore from the host image reads no file
/// and needs no check.
/// </para>
/// <para>
/// Where the region is unavailable (another OS, or a CUDA build, whose native library has no CPU region yet) the store
/// falls back to the old path: evict frees the model and its contexts, restore loads it again from the page cache.
/// </para>
/// </summary>
public sealed unsafe class CpuWeightStore : IWeightStore
{
    private readonly ModelRegistration registration;
    private readonly CpuSwapOptions options;
    private readonly ContextCache contexts = new();
    private ModelFileIdentity identity;
    private string? change; // what the last check found changed; null while the file is as recorded
    private mr_swap_region* region;
    private bool regionUnavailable;
    private Model? loaded;

    public CpuWeightStore(ModelRegistration registration)
        : this(registration, new CpuSwapOptions())
    {
    }

    public CpuWeightStore(ModelRegistration registration, CpuSwapOptions options)
    {
        ArgumentNullException.ThrowIfNull(registration);
        ArgumentNullException.ThrowIfNull(options);
        this.registration = registration;
        this.options = options;
        (identity, WeightBytes) = ModelFileIdentity.ValidateAndCapture(registration.Path); // a bad file is refused at registration
    }

    public long WeightBytes { get; private set; }

    public ModelTier Tier { get; private set; } = ModelTier.Cold;

    /// <summary>The live model while resident. With the region it also exists while evicted, but only the pool's gate
    /// (a lease is granted in Resident only) may hand it out then, never to a decode.</summary>
    public Model? Model => Tier == ModelTier.Resident ? loaded : null;

    /// <summary>No model loaded yet, and this build has the region as far as is known (a first load finds out).</summary>
    public bool CanStageHostImage => loaded is null && !regionUnavailable && Tier != ModelTier.Resident;

    /// <summary>True once the model lives in a swap region (evict keeps the model), false on the reload fallback.</summary>
    public bool UsesRegion => region != null;

    public void Warm(IProgress<double>? progress, CancellationToken cancellation)
    {
        if (Tier != ModelTier.Cold)
        {
            return;
        }

        ThrowIfFileChanged(""); // before any read of the file
        PageCachePrimer.Read(registration.Path, identity.Length, progress, cancellation);
        Tier = ModelTier.Warm;
    }

    public void Restore(CancellationToken cancellation)
    {
        if (Tier == ModelTier.Resident)
        {
            return;
        }

        if (loaded is not null && region != null)
        {
            // Same addresses, the image copied back; the model and its contexts never went away. On failure the shim
            // leaves the region evicted with nothing committed. The image is ours: no file is read, none is checked.
            CheckMemory(MrShim.mr_swap_region_restore(region), "restore its weights");
            Tier = ModelTier.Resident;
            return;
        }

        // From the file: checked before the load reads it and after. Not primed first: the load reads it anyway, and
        // priming is for ahead of demand (PrefetchAsync), not on the request's path.
        ThrowIfFileChanged("");
        try
        {
            if (!regionUnavailable && TryCreateRegion())
            {
                FirstLoadThroughRegion(cancellation);
            }
            else
            {
                // The fallback, too, reads the file into buffers of its own (load mode None): a mapping would serve from
                // the file and fault when it is truncated. Evict frees the model; the next restore reads the file again.
                loaded = Models.Model.Load(registration.Path, ServedLoadOptions(cancellation));
                Tier = ModelTier.Resident;
            }
        }
        catch (Exception ex) when (ex is ModelLoadException or InvalidModelFileException && identity.DescribeChange(thorough: true) is { } found)
        {
            // A file truncated or rewritten during the load: a short read or a bad index, reported as what it is.
            Volatile.Write(ref change, found);
            throw new ModelFileChangedException(registration.Name, found + " while it was being loaded", ex);
        }

        try
        {
            ThrowIfFileChanged(" while it was being loaded");
        }
        catch (ModelFileChangedException)
        {
            Drop(); // what was read may mix the old file and the new: none of it is served
            throw;
        }
    }

    public void Evict()
    {
        if (Tier != ModelTier.Resident)
        {
            return;
        }

        if (region != null)
        {
            Check(MrShim.mr_swap_region_evict(region), "evict its weights");
            Tier = ModelTier.Warm; // the host image is the warm tier now
            return;
        }

        contexts.DisposeAll();
        loaded?.Dispose();
        loaded = null;
        Tier = ModelTier.Warm;
    }

    public void Drop()
    {
        contexts.DisposeAll(keepPrefixes: false); // nothing of these weights is kept, cached sequences included
        loaded?.Dispose();
        loaded = null;
        if (region != null)
        {
            MrShim.mr_swap_region_destroy(region); // deferred by the shim until the model's buffers are gone
            region = null;
        }

        Tier = ModelTier.Cold;
    }

    public string? CheckFile()
    {
        // One stat while the file is as recorded; with the content check once a change was seen, so a file put back
        // exactly as it was (same inode, size, mtime and sampled content) is recognised and the model serves again.
        var found = identity.DescribeChange(thorough: Volatile.Read(ref change) is not null);
        Volatile.Write(ref change, found);
        return found;
    }

    public void AcceptFileChange()
    {
        Drop();
        (identity, WeightBytes) = ModelFileIdentity.ValidateAndCapture(registration.Path);
        Volatile.Write(ref change, null);
    }

    public long ContextBytes => contexts.Bytes;

    public void ReleaseContexts() => contexts.DisposeAll();

    public InferenceContext GetContext(ContextOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var model = Model ?? throw new InvalidOperationException($"Model '{registration.Name}' is not resident.");
        return contexts.GetOrCreate(model, options);
    }

    /// <summary>The region's own figures (bytes, host image, last evict/restore ms), or null without a region.</summary>
    public mr_swap_stats? Stats()
    {
        if (region == null)
        {
            return null;
        }

        mr_swap_stats stats;
        return MrShim.mr_swap_region_stats(region, &stats) == mr_status.MR_STATUS_OK ? stats : null;
    }

    public void Dispose() => Drop();

    private bool TryCreateRegion()
    {
        NativeRuntime.EnsureInitialized();
        var swapOptions = new mr_cpu_swap_options
        {
            // Address space only: room for the weights, their repacked form's padding and the loader's alignment.
            reserve_bytes = (ulong)(WeightBytes * 2 + (256L << 20)),
            chunk_bytes = (ulong)options.ChunkBytes,
            threads = options.CopyThreads,
            map_image = options.MapImage ? 1 : 0,
        };
        mr_swap_region* created;
        var status = MrShim.mr_swap_region_create_cpu(&swapOptions, &created);
        if (status == mr_status.MR_STATUS_UNSUPPORTED)
        {
            regionUnavailable = true; // this native build has none: the reload fallback, for good
            return false;
        }

        Check(status, "reserve its CPU swap region");
        region = created;
        return true;
    }

    private void FirstLoadThroughRegion(CancellationToken cancellation)
    {
        try
        {
            // llama.cpp loads on this very thread: load_begin routes this thread's CPU buffer allocations into the region.
            Check(MrShim.mr_swap_region_load_begin(region), "start loading into its region");
            try
            {
                loaded = Models.Model.Load(registration.Path, ServedLoadOptions(cancellation));
            }
            finally
            {
                MrShim.mr_swap_region_load_end(region);
            }

            CheckMemory(MrShim.mr_swap_region_capture(region), "capture the host image of its weights");
            if (Stats() is { } stats)
            {
                WeightBytes = (long)stats.weight_bytes;
            }
        }
        catch
        {
            Drop();
            throw;
        }

        // The host image replaces the page-cached file as the warm tier.
        Tier = ModelTier.Resident;
    }

    /// <summary>Load mode None and no lazy reads: llama.cpp reads every weight into its buffers and keeps no mapping of the file.</summary>
    private static ModelLoadOptions ServedLoadOptions(CancellationToken cancellation) =>
        new() { LoadMode = ModelLoadMode.None, LazyRead = false, GpuLayers = 0, Cancellation = cancellation };

    /// <summary>Before (and after) a read of the file: the content check as well as the stat.</summary>
    private void ThrowIfFileChanged(string when)
    {
        if (identity.DescribeChange(thorough: true) is { } found)
        {
            Volatile.Write(ref change, found);
            throw new ModelFileChangedException(registration.Name, found + when);
        }
    }

    /// <summary>As <see cref="Check"/>, but memory running out is the pool's cue to evict and retry.</summary>
    private void CheckMemory(mr_status status, string what)
    {
        if (status == mr_status.MR_STATUS_OUT_OF_MEMORY)
        {
            var detail = NativeStrings.Read(MrShim.mr_last_error());
            throw new DeviceMemoryExhaustedException($"Model '{registration.Name}': could not {what}: {detail}");
        }

        Check(status, what);
    }

    private void Check(mr_status status, string what)
    {
        if (status == mr_status.MR_STATUS_OK)
        {
            return;
        }

        var detail = NativeStrings.Read(MrShim.mr_last_error()) ?? NativeStrings.Read(MrShim.mr_status_string(status));
        throw new ModelUnavailableException(registration.Name, $"could not {what}: {detail}");
    }
}

/// <summary>How the CPU store uses its swap region.</summary>
public sealed record CpuSwapOptions
{
    /// <summary>
    /// Commit and copy piece of the region. 2 MiB, one huge page: the page pool (<see cref="CpuPagePool"/>) fills a
    /// chunk from one kept segment or from fresh pages, so with 64 MiB chunks a model's tail chunk often found no kept
    /// segment of its size and faulted fresh pages (measured: a 27.8 MB tail beside a 24.8 MB segment); with 2 MiB
    /// chunks every kept segment but an allocation's last fits every chunk. Measured (bench-swap, 375 MB evicted 3 s):
    /// restore 33.8 ms with either size, evict 2.5 ms instead of 1.0 (188 moves instead of 6).
    /// </summary>
    public long ChunkBytes { get; init; } = 2L << 20;

    /// <summary>Threads that copy the host image back on restore (memory bandwidth, not cores, is the limit).</summary>
    public int CopyThreads { get; init; } = Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>
    /// False: restore copies the host image back into fresh pages, so evict really frees the weights' copy (a resident
    /// model costs its weights twice: region and image). True: the image is a memfd that restore maps read-only at the
    /// same addresses; resident and evicted both cost the weights once, and evict only unmaps them (RSS drops, memory
    /// stays with the image).
    /// </summary>
    public bool MapImage { get; init; }
}

/// <summary>Makes <see cref="CpuWeightStore"/>s.</summary>
public sealed class CpuWeightStoreFactory(CpuSwapOptions? options = null) : IWeightStoreFactory
{
    public IWeightStore Create(ModelRegistration registration) => new CpuWeightStore(registration, options ?? new CpuSwapOptions());
}
