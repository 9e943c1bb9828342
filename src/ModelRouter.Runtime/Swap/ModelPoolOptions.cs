namespace ModelRouter.Runtime.Swap;

/// <summary>Options of a <see cref="ModelPool"/>.</summary>
public sealed record ModelPoolOptions
{
    /// <summary>
    /// Bytes of device memory (RAM on the CPU path) the models may hold together: the resident models' weights plus
    /// every model's live contexts (see <see cref="ModelPool.ResidentBytes"/>).
    /// </summary>
    public required long BudgetBytes { get; init; }

    /// <summary>Makes the tier mechanics of each model (CPU page cache, CUDA VMM + pinned image).</summary>
    public IWeightStoreFactory StoreFactory { get; init; } = new CpuWeightStoreFactory();

    /// <summary>Clock for LRU and keep-alive (tests use a fake one).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
