using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Swap;

/// <summary>The physical reference of the CUDA path: host-to-device cudaMemcpyAsync bandwidth, measured by the shim.</summary>
public static unsafe class CudaBandwidth
{
    /// <summary>Decimal GB/s moving <paramref name="bytes"/> in <paramref name="chunkBytes"/> pieces over <paramref name="streams"/> streams.</summary>
    /// <exception cref="NotSupportedException">This build has no CUDA backend.</exception>
    public static double Measure(int device, long bytes, long chunkBytes = 64L << 20, int streams = 2, bool pinned = true)
    {
        NativeRuntime.EnsureInitialized();
        mr_bandwidth_result result;
        var status = MrShim.mr_cuda_host_to_device_bandwidth(device, (ulong)bytes, (ulong)chunkBytes, streams, pinned ? 1 : 0, &result);
        return status switch
        {
            mr_status.MR_STATUS_OK => result.gigabytes_per_second,
            mr_status.MR_STATUS_UNSUPPORTED => throw new NotSupportedException("This native build has no CUDA backend."),
            _ => throw new InvalidOperationException("Bandwidth measurement failed: " + NativeStrings.Read(MrShim.mr_last_error())),
        };
    }
}
