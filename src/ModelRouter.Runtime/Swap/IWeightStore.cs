using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The tier mechanics of one model on one device. The pool serialises calls per model and decides when; a store
/// only does what it is asked. With a swap region (CUDA, and CPU builds on Linux) the model and its contexts survive
/// evict/restore (the weights' virtual addresses stay reserved); on the CPU fallback they are rebuilt from the warm
/// page cache.
/// </summary>
public interface IWeightStore : IDisposable
{
    /// <summary>Bytes the weights occupy on the device when resident.</summary>
    long WeightBytes { get; }

    ModelTier Tier { get; }

    /// <summary>The live model while resident; null otherwise.</summary>
    Model? Model { get; }

    /// <summary>Cold → Warm: bring the host image into memory (reads the file once). No-op when already warm.</summary>
    void Warm(IProgress<double>? progress, CancellationToken cancellation);

    /// <summary>Warm (or Cold) → Resident. On failure the store is back in the tier it was in, never half-resident.</summary>
    void Restore(CancellationToken cancellation);

    /// <summary>Resident → Warm. Callers guarantee no decode is in flight.</summary>
    void Evict();

    /// <summary>
    /// True when the next <see cref="Restore"/> would read the model's file (no host image yet) and a restore followed by
    /// an evict would leave one (a swap region), so that later restores copy the image instead: what
    /// <see cref="ModelPool.TryStageHostImageAsync"/> does ahead of demand. False without a region.
    /// </summary>
    bool CanStageHostImage => false;

    /// <summary>Warm → Cold: release the host image.</summary>
    void Drop();

    /// <summary>
    /// Bytes the live contexts of these weights hold (KV caches, output and compute buffers), in every tier: with a swap
    /// region the contexts survive evict and keep their memory; the reload fallback frees them on evict (then 0).
    /// </summary>
    long ContextBytes { get; }

    /// <summary>Frees the contexts (the next <see cref="GetContext"/> creates them again). Callers guarantee none is in use.</summary>
    void ReleaseContexts();

    /// <summary>A context for these weights, reused across requests with the same options (never a reload).</summary>
    InferenceContext GetContext(ContextOptions options);

    /// <summary>
    /// What changed in the model's file since the store recorded its identity (at registration, or when it last accepted
    /// a change), in words that name the file; null when nothing did, and always for a store without a file. Cheap
    /// enough for every acquire: one stat while the file is unchanged; once a change was seen, the content check as
    /// well, so that a file put back exactly as it was is recognised.
    /// </summary>
    string? CheckFile() => null;

    /// <summary>
    /// For <see cref="ModelRegistration.ReloadOnChange"/>: forgets everything made from the old file (as
    /// <see cref="Drop"/>), validates the file as it is now and records its identity, so the next restore loads it.
    /// Callers guarantee no lease is open.
    /// </summary>
    /// <exception cref="InvalidModelFileException">The new file is missing or malformed (the store stays Cold, the old identity kept).</exception>
    void AcceptFileChange()
    {
    }
}

/// <summary>Creates the store of a registered model.</summary>
public interface IWeightStoreFactory
{
    IWeightStore Create(ModelRegistration registration);
}
