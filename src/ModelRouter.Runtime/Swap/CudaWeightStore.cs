using ModelRouter.Interop;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The CUDA path (SWAP.md): the first restore loads the model through the shim's impostor buffer type (VMM-backed
/// VRAM at a reserved virtual range) and captures a pinned host image of those bytes; later evicts release the
/// physical VRAM and restores map it back and DMA the image in, while the llama_model, its tensor pointers and its
/// contexts stay alive. Before the first load the warm tier is the page-cached file, or the host image an earlier
/// process left in the cache directory (<see cref="HostImageRecord"/>): then the first load adopts it, so the GGUF's
/// tensor data is never read and the weights arrive by DMA as in a restore.
/// <para>
/// As on CPU (<see cref="CpuWeightStore"/>), the file's identity is recorded at registration and checked with its
/// content before the first load reads the file and after it; a restore DMAs from the pinned image (ours) and reads no
/// file. The first load reads the file with load mode None (no mapping that a truncation could turn into a SIGBUS);
/// adopting a cached image maps it (MMAP) because then no tensor byte is read at all (the impostor discards uploads)
/// and every tensor lives in the VMM buffer, so no CPU buffer is made from the mapping and llama.cpp unmaps all of it at
/// the end of the load (llama_model_loader::load_all_data: <c>unmap_fragment(0, mmap_used.first)</c> with nothing used).
/// </para>
/// </summary>
public sealed unsafe class CudaWeightStore : IWeightStore
{
    private readonly ModelRegistration registration;
    private readonly CudaSwapOptions options;
    private readonly ContextCache contexts = new();
    private readonly string? imagePath;
    private readonly string? imageRecordPath;
    private ModelFileIdentity identity;
    private string? change; // what the last check found changed; null while the file is as recorded
    private mr_swap_region* region;

    public CudaWeightStore(ModelRegistration registration, CudaSwapOptions options)
    {
        ArgumentNullException.ThrowIfNull(registration);
        ArgumentNullException.ThrowIfNull(options);
        this.registration = registration;
        this.options = options;
        (identity, WeightBytes) = ModelFileIdentity.ValidateAndCapture(registration.Path); // WeightBytes refined from the region's stats after the first load
        if (options.CacheDirectory is { } directory)
        {
            imagePath = Path.Combine(directory, registration.Name + ".weights");
            imageRecordPath = imagePath + ".id";
        }

        if (FindReusableImage() is { } reusable)
        {
            WeightBytes = reusable.ImageBytes;
            Tier = ModelTier.Warm; // the pinned image survived the restart
        }
    }

    public long WeightBytes { get; private set; }

    public ModelTier Tier { get; private set; } = ModelTier.Cold;

    public Model? Model { get; private set; }

    /// <summary>No model loaded yet: the first restore reads the file (or adopts a recorded image) into a new region.</summary>
    public bool CanStageHostImage => Model is null && Tier != ModelTier.Resident;

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

        if (Model is not null && region != null)
        {
            // The fast path: same virtual addresses, DMA from the pinned image (ours: no file read, none checked);
            // contexts and graphs stay valid.
            CheckDeviceMemory(MrShim.mr_swap_region_restore(region), "restore"); // on failure nothing stays mapped
            Tier = ModelTier.Resident;
            return;
        }

        ThrowIfFileChanged(""); // the first load reads the file (or adopts an image recorded for it)
        try
        {
            FirstLoad(cancellation);
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
            DeleteImageRecord(); // its image may mix the old file and the new: never adopt it
            Drop();
            throw;
        }
    }

    public void Evict()
    {
        if (Tier != ModelTier.Resident || region == null)
        {
            return;
        }

        Check(MrShim.mr_swap_region_evict(region), "evict");
        Tier = ModelTier.Warm; // the pinned host image is the warm tier now
    }

    public void Drop()
    {
        contexts.DisposeAll(keepPrefixes: false); // nothing of these weights is kept, cached sequences included
        Model?.Dispose();
        Model = null;
        if (region != null)
        {
            MrShim.mr_swap_region_destroy(region); // deferred by the shim until the model's buffers are gone
            region = null;
        }

        Tier = ModelTier.Cold;
    }

    public string? CheckFile()
    {
        // One stat while the file is as recorded; the content check as well once a change was seen (see CpuWeightStore).
        var found = identity.DescribeChange(thorough: Volatile.Read(ref change) is not null);
        Volatile.Write(ref change, found);
        return found;
    }

    public void AcceptFileChange()
    {
        Drop();
        DeleteImageRecord(); // made from the old file
        (identity, WeightBytes) = ModelFileIdentity.ValidateAndCapture(registration.Path);
        Volatile.Write(ref change, null);
    }

    public long ContextBytes => contexts.Bytes;

    public void ReleaseContexts() => contexts.DisposeAll();

    public InferenceContext GetContext(ContextOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var model = Model ?? throw new InvalidOperationException($"Model '{registration.Name}' is not loaded.");
        return contexts.GetOrCreate(model, options);
    }

    /// <summary>The region's own figures (VRAM bytes, host image, last evict/restore ms), or null before the first load.</summary>
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

    private void FirstLoad(CancellationToken cancellation)
    {
        var reusable = FindReusableImage(); // without one the load reads the file (checked by the caller)
        NativeRuntime.EnsureInitialized();
        CreateRegion();
        try
        {
            if (reusable is not null && MrShim.mr_swap_region_adopt_image(region, (ulong)reusable.ImageBytes, reusable.LayoutHash) != mr_status.MR_STATUS_OK)
            {
                reusable = null; // the file went away or cannot be registered: an ordinary load below
            }

            LoadThroughRegion(adopting: reusable is not null, cancellation);
            var captured = MrShim.mr_swap_region_capture(region);
            if (captured == mr_status.MR_STATUS_INVALID_STATE && reusable is not null)
            {
                // This load laid the buffers out differently than the process that captured the image: the uploads
                // were discarded, so nothing in VRAM is valid. Forget the image and load from the file.
                DeleteImageRecord();
                Drop();
                FirstLoad(cancellation);
                return;
            }

            Check(captured, reusable is null ? "capture the host image" : "copy the adopted host image in");
            if (Stats() is { } stats)
            {
                WeightBytes = (long)stats.weight_bytes;
                if (reusable is null)
                {
                    WriteImageRecord(stats);
                }
            }
        }
        catch
        {
            Drop();
            throw;
        }

        // The pinned host image replaces the page-cached file as the warm tier.
        Tier = ModelTier.Resident;
    }

    private void CreateRegion()
    {
        var cachePath = imagePath is null ? null : NativeStrings.Allocate(imagePath);
        try
        {
            var swapOptions = new mr_swap_options
            {
                device = options.Device,
                streams = options.Streams,
                chunk_bytes = (ulong)options.ChunkBytes,
                cache_path = (sbyte*)cachePath,
                reserve_bytes = (ulong)(WeightBytes + WeightBytes / 4 + (256L << 20)),
            };
            mr_swap_region* created;
            Check(MrShim.mr_swap_region_create(&swapOptions, &created), "create the VRAM region");
            region = created;
        }
        finally
        {
            if (cachePath != null)
            {
                System.Runtime.InteropServices.NativeMemory.Free(cachePath);
            }
        }
    }

    private void LoadThroughRegion(bool adopting, CancellationToken cancellation)
    {
        var bufferType = (nint)MrShim.mr_swap_region_buffer_type(region);
        try
        {
            Model = Models.Model.Load(registration.Path, new ModelLoadOptions
            {
                // Reading: None, so a file truncated meanwhile is a short read (an error), never a SIGBUS. Adopting: no
                // tensor byte is read, and MMAP spares reading the whole file only to discard it (see the class remarks).
                LoadMode = adopting ? ModelLoadMode.Mmap : ModelLoadMode.None,
                LazyRead = false,
                GpuLayers = registration.GpuLayers,
                NativeBufferTypeOverrides = [(".*", bufferType)],
                Cancellation = cancellation,
            });
        }
        catch (ModelLoadException ex) when (MrShim.mr_last_status() == mr_status.MR_STATUS_OUT_OF_MEMORY)
        {
            // llama.cpp only says the load failed; the region's buffer type left the reason on this thread.
            var detail = NativeStrings.Read(MrShim.mr_last_error());
            throw new DeviceMemoryExhaustedException($"Model '{registration.Name}': the first load ran out of memory on CUDA device {options.Device}: {detail}", ex);
        }
    }

    private void ThrowIfFileChanged(string when)
    {
        if (identity.DescribeChange(thorough: true) is { } found)
        {
            Volatile.Write(ref change, found);
            throw new ModelFileChangedException(registration.Name, found + when);
        }
    }

    /// <summary>A host image in the cache directory made from this very file by this build with these settings, or null.</summary>
    private HostImageRecord? FindReusableImage()
    {
        if (imagePath is null || imageRecordPath is null || HostImageRecord.TryRead(imageRecordPath) is not { } record)
        {
            return null;
        }

        try
        {
            var expected = HostImageRecord.Describe(registration.Path, NativeRuntime.EnsureInitialized().LlamaCommit, options.ChunkBytes, registration.GpuLayers);
            return record.SameSourceAs(expected) && File.Exists(imagePath) && new FileInfo(imagePath).Length == record.ImageBytes ? record : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private void WriteImageRecord(mr_swap_stats stats)
    {
        if (imageRecordPath is null || stats.host_image_registered == 0)
        {
            return; // anonymous pinned memory dies with the process: nothing to describe
        }

        try
        {
            var record = HostImageRecord.Describe(registration.Path, NativeRuntime.EnsureInitialized().LlamaCommit, options.ChunkBytes, registration.GpuLayers)
                with { ImageBytes = (long)stats.host_image_bytes, LayoutHash = stats.layout_hash };
            record.Write(imageRecordPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Only a later restart is slower without it; this process keeps its image either way.
        }
    }

    private void DeleteImageRecord()
    {
        try
        {
            if (imageRecordPath is not null)
            {
                File.Delete(imageRecordPath);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // FindReusableImage re-checks the record anyway; a stale one only costs a retry.
        }
    }

    /// <summary>As <see cref="Check"/>, but device memory running out is the pool's cue to evict and retry.</summary>
    private void CheckDeviceMemory(mr_status status, string what)
    {
        if (status == mr_status.MR_STATUS_OUT_OF_MEMORY)
        {
            var detail = NativeStrings.Read(MrShim.mr_last_error());
            throw new DeviceMemoryExhaustedException($"Model '{registration.Name}': could not {what} on CUDA device {options.Device}: {detail}");
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
        throw new ModelUnavailableException(registration.Name, $"could not {what} on CUDA device {options.Device}: {detail}");
    }
}

/// <summary>Where and how the CUDA store keeps its regions.</summary>
public sealed record CudaSwapOptions
{
    public int Device { get; init; }

    /// <summary>Copy streams for restores (at least two so mapping and copying overlap).</summary>
    public int Streams { get; init; } = 2;

    public long ChunkBytes { get; init; } = 64L << 20;

    /// <summary>Directory of the host-image files (tmpfs such as /dev/shm registers reliably); null: anonymous pinned memory.</summary>
    public string? CacheDirectory { get; init; } = Directory.Exists("/dev/shm") ? "/dev/shm" : null;
}

/// <summary>Makes <see cref="CudaWeightStore"/>s.</summary>
public sealed class CudaWeightStoreFactory(CudaSwapOptions options) : IWeightStoreFactory
{
    public IWeightStore Create(ModelRegistration registration) => new CudaWeightStore(registration, options);
}

/// <summary>Chooses the store of this build: CUDA when the native libraries have it, the CPU path otherwise.</summary>
public static class WeightStores
{
    public static IWeightStoreFactory ForThisBuild(CudaSwapOptions? cuda = null, CpuSwapOptions? cpu = null) =>
        NativeRuntime.EnsureInitialized().CompiledBackends.Contains("cuda")
            ? new CudaWeightStoreFactory(cuda ?? new CudaSwapOptions())
            : new CpuWeightStoreFactory(cpu);
}
