namespace ModelRouter.Runtime.Models;

/// <summary>How llama.cpp brings the weights in (enum llama_load_mode).</summary>
public enum ModelLoadMode
{
    /// <summary>llama.cpp picks from the device's capabilities.</summary>
    Auto = -1,

    /// <summary>Read the file into buffers (no mapping).</summary>
    None = 0,

    /// <summary>Memory-map the file; pages come from the page cache.</summary>
    Mmap = 1,

    /// <summary>Read and lock in RAM.</summary>
    Mlock = 2,

    /// <summary>Memory-map and lock the mapping in RAM.</summary>
    MmapMlock = 3,

    /// <summary>Direct I/O where the platform has it.</summary>
    DirectIo = 4,
}

/// <summary>Places tensors whose name matches <paramref name="Pattern"/> (a regex) in the named ggml buffer type.</summary>
public sealed record TensorBufferOverride(string Pattern, string BufferType);

/// <summary>Options of <see cref="Model.Load"/>, each mapped to the llama_model_params field of the same meaning.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Load mode; null keeps llama.cpp's default.</summary>
    public ModelLoadMode? LoadMode { get; init; }

    /// <summary>
    /// False: llama.cpp never reads tensors lazily from a mapping of the file (its default, "auto", maps files whose
    /// marked tensors exceed 4 GiB even in load mode None and reads their rows on demand, so the file stays mapped
    /// while the model serves). Served models set it false: with load mode None nothing then maps the file, and a file
    /// truncated under a running model is a read error at load instead of a SIGBUS later. Null keeps llama.cpp's default.
    /// </summary>
    public bool? LazyRead { get; init; }

    /// <summary>Layers to place on GPUs; negative means all; null keeps llama.cpp's default.</summary>
    public int? GpuLayers { get; init; }

    /// <summary>ggml device names to use (e.g. "CUDA0", "CPU"); null or empty lets llama.cpp choose.</summary>
    public IReadOnlyList<string>? Devices { get; init; }

    /// <summary>tensor_buft_overrides: regex on tensor names → buffer type name (e.g. "CPU", "CUDA0").</summary>
    public IReadOnlyList<TensorBufferOverride>? BufferTypeOverrides { get; init; }

    /// <summary>Overrides to buffer types made by our shim (the swap engine's impostor type), by native pointer.</summary>
    internal IReadOnlyList<(string Pattern, nint BufferType)>? NativeBufferTypeOverrides { get; init; }

    /// <summary>Load only the vocabulary, no weights.</summary>
    public bool VocabOnly { get; init; }

    /// <summary>Ask llama.cpp to validate tensor data (slow; for suspicious files).</summary>
    public bool CheckTensors { get; init; }

    /// <summary>Receives load progress from 0 to 1 on the loading thread.</summary>
    public IProgress<float>? Progress { get; init; }

    /// <summary>Cancels a load in progress (checked at each progress report).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Default options: llama.cpp's defaults throughout.</summary>
    public static ModelLoadOptions Default { get; } = new();
}
