namespace ModelRouter.Runtime.Native;

/// <summary>What the loaded native build is: shim ABI, the llama.cpp/ggml it was built from, its backends.</summary>
public sealed record NativeBuildInfo(
    int AbiVersion,
    string LlamaCommit,
    string GgmlVersion,
    string GgmlCommit,
    IReadOnlyList<string> CompiledBackends,
    string LibraryDirectory);

/// <summary>ggml's device types (enum ggml_backend_dev_type).</summary>
public enum ComputeDeviceKind
{
    Cpu = 0,
    Gpu = 1,
    IntegratedGpu = 2,
    Accelerator = 3,
    Meta = 4,
}

/// <summary>A device ggml can run on, with its memory as reported when asked.</summary>
public sealed record ComputeDevice(
    int Index,
    string Name,
    string Description,
    ComputeDeviceKind Kind,
    ulong MemoryFreeBytes,
    ulong MemoryTotalBytes);

/// <summary>Host memory facts from the shim (MemAvailable on Linux; RLIMIT_MEMLOCK as the lock limit).</summary>
public readonly record struct HostMemoryInfo(ulong PageSizeBytes, ulong TotalBytes, ulong AvailableBytes, ulong LockLimitBytes);
