using System.IO.MemoryMappedFiles;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The CPU path: the warm tier is the GGUF memory-mapped by us with every page touched (so it sits in the page
/// cache), resident means a loaded llama_model (mmap from that warm cache) with its contexts. Evict frees the model
/// and contexts; restore loads again from RAM, never from disk.
/// </summary>
public sealed unsafe class CpuWeightStore : IWeightStore
{
    private const int PageSize = 4096;

    private readonly ModelRegistration registration;
    private readonly Dictionary<ContextOptions, InferenceContext> contexts = [];
    private MemoryMappedFile? mapping;
    private MemoryMappedViewAccessor? view;
    private FileIdentity warmIdentity;

    public CpuWeightStore(ModelRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        this.registration = registration;
        using var file = GgufFile.Open(registration.Path); // validates: a bad file is refused at registration
        GgufValidator.CheckLlamaCppRules(file);
        WeightBytes = file.Tensors.Sum(t => t.ByteSize);
    }

    public long WeightBytes { get; private set; }

    public ModelTier Tier { get; private set; } = ModelTier.Cold;

    public Model? Model { get; private set; }

    public void Warm(IProgress<double>? progress, CancellationToken cancellation)
    {
        if (Tier != ModelTier.Cold)
        {
            return;
        }

        var identity = FileIdentity.Of(registration.Path);
        var map = MemoryMappedFile.CreateFromFile(registration.Path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        var accessor = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        try
        {
            TouchEveryPage(accessor, identity.Length, progress, cancellation);
        }
        catch
        {
            accessor.Dispose();
            map.Dispose();
            throw;
        }

        mapping = map;
        view = accessor;
        warmIdentity = identity;
        Tier = ModelTier.Warm;
    }

    public void Restore(CancellationToken cancellation)
    {
        if (Tier == ModelTier.Resident)
        {
            return;
        }

        if (!File.Exists(registration.Path))
        {
            throw new ModelUnavailableException(registration.Name, $"its file '{registration.Path}' no longer exists");
        }

        if (Tier == ModelTier.Warm && FileIdentity.Of(registration.Path) != warmIdentity)
        {
            // The file changed under the warm image: drop it and start from the new file, validated again.
            Drop();
            using var file = GgufFile.Open(registration.Path);
            GgufValidator.CheckLlamaCppRules(file);
            WeightBytes = file.Tensors.Sum(t => t.ByteSize);
        }

        Warm(progress: null, cancellation);
        Model = Models.Model.Load(registration.Path, new ModelLoadOptions { LoadMode = ModelLoadMode.Mmap, GpuLayers = 0, Cancellation = cancellation });
        Tier = ModelTier.Resident;
    }

    public void Evict()
    {
        if (Tier != ModelTier.Resident)
        {
            return;
        }

        foreach (var context in contexts.Values)
        {
            context.Dispose();
        }

        contexts.Clear();
        Model?.Dispose();
        Model = null;
        Tier = ModelTier.Warm;
    }

    public void Drop()
    {
        Evict();
        view?.Dispose();
        mapping?.Dispose();
        view = null;
        mapping = null;
        Tier = ModelTier.Cold;
    }

    public InferenceContext GetContext(ContextOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var model = Model ?? throw new InvalidOperationException($"Model '{registration.Name}' is not resident.");
        lock (contexts)
        {
            if (!contexts.TryGetValue(options, out var context))
            {
                context = InferenceContext.Create(model, options);
                contexts.Add(options, context);
            }

            return context;
        }
    }

    public void Dispose() => Drop();

    private static void TouchEveryPage(MemoryMappedViewAccessor accessor, long length, IProgress<double>? progress, CancellationToken cancellation)
    {
        byte* start = null;
        var handle = accessor.SafeMemoryMappedViewHandle;
        handle.AcquirePointer(ref start);
        try
        {
            start += accessor.PointerOffset;
            const long reportEvery = 64L << 20;
            var sum = 0;
            for (long offset = 0; offset < length; offset += PageSize)
            {
                sum += Volatile.Read(ref start[offset]); // a read faults the page into the page cache
                if (offset % reportEvery == 0)
                {
                    cancellation.ThrowIfCancellationRequested();
                    progress?.Report((double)offset / length);
                }
            }

            GC.KeepAlive(sum);
            progress?.Report(1.0);
        }
        finally
        {
            handle.ReleasePointer();
        }
    }

    private readonly record struct FileIdentity(long Length, DateTime LastWriteUtc)
    {
        public static FileIdentity Of(string path)
        {
            var info = new FileInfo(path);
            return new FileIdentity(info.Length, info.LastWriteTimeUtc);
        }
    }
}

/// <summary>Makes <see cref="CpuWeightStore"/>s.</summary>
public sealed class CpuWeightStoreFactory : IWeightStoreFactory
{
    public IWeightStore Create(ModelRegistration registration) => new CpuWeightStore(registration);
}
