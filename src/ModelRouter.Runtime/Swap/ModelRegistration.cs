namespace ModelRouter.Runtime.Swap;

/// <summary>A model the pool may serve: its weights file and how the policies treat it.</summary>
public sealed record ModelRegistration
{
    public ModelRegistration(string name, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Name = name;
        Path = System.IO.Path.GetFullPath(path);
    }

    public string Name { get; }

    public string Path { get; }

    /// <summary>Higher priority models are evicted later (ties broken by least recent use).</summary>
    public int Priority { get; init; }

    /// <summary>Pinned models are never evicted.</summary>
    public bool Pinned { get; init; }

    /// <summary>Evicted by <see cref="ModelPool.EvictIdle"/> after this long without use; null keeps it until space is needed.</summary>
    public TimeSpan? KeepAlive { get; init; }

    /// <summary>
    /// When the model's file changes under the running process (size, mtime, inode or the content check differ):
    /// false reports the model Failed (a <see cref="ModelUnavailableException"/> naming the file and what changed) until
    /// the file is back as it was; true drops what was made from the old file and loads the new one, validated again.
    /// </summary>
    public bool ReloadOnChange { get; init; }

    /// <summary>Layers on the GPU for GPU stores (-1: all).</summary>
    public int GpuLayers { get; init; } = -1;
}
