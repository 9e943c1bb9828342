using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The CPU path: the warm tier is the GGUF memory-mapped by us with every page touched (so it sits in the page
/// cache), resident means a loaded llama_model (mmap from that warm cache) with its contexts. Evict frees the model
/// and contexts; restore loads again from RAM, never from disk.
/// </summary>
public sealed class CpuWeightStore : IWeightStore
{
    private readonly ModelRegistration registration;
    private readonly ContextCache contexts = new();
    private WarmFileMapping? warm;

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

        warm = WarmFileMapping.Create(registration.Path, progress, cancellation);
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

        if (Tier == ModelTier.Warm && warm!.IsStale(registration.Path))
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

        contexts.DisposeAll();
        Model?.Dispose();
        Model = null;
        Tier = ModelTier.Warm;
    }

    public void Drop()
    {
        Evict();
        warm?.Dispose();
        warm = null;
        Tier = ModelTier.Cold;
    }

    public InferenceContext GetContext(ContextOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var model = Model ?? throw new InvalidOperationException($"Model '{registration.Name}' is not resident.");
        return contexts.GetOrCreate(model, options);
    }

    public void Dispose() => Drop();
}

/// <summary>Makes <see cref="CpuWeightStore"/>s.</summary>
public sealed class CpuWeightStoreFactory : IWeightStoreFactory
{
    public IWeightStore Create(ModelRegistration registration) => new CpuWeightStore(registration);
}
