using System.Runtime.InteropServices;
using ModelRouter.Interop;

namespace ModelRouter.Runtime.Native;

/// <summary>
/// Process-wide native state: loads the native libraries, checks the shim's ABI matches these bindings, and
/// initialises llama.cpp's backends exactly once. Every entry point of the runtime goes through
/// <see cref="EnsureInitialized"/> first.
/// </summary>
public static class NativeRuntime
{
    private static readonly Lock Gate = new();
    private static NativeBuildInfo? buildInfo;

    /// <summary>Loads and initialises the native layer once; later calls return the same facts.</summary>
    /// <exception cref="NativeLibraryLoadException">A library is missing or does not load.</exception>
    /// <exception cref="InvalidOperationException">The shim was built for another ABI than these bindings.</exception>
    public static NativeBuildInfo EnsureInitialized()
    {
        if (Volatile.Read(ref buildInfo) is { } info)
        {
            return info;
        }

        lock (Gate)
        {
            if (buildInfo is null)
            {
                var libraries = NativeLibraryLoader.EnsureLoaded();
                var read = ReadBuildInfo(libraries.Directory);
                if (read.AbiVersion != MrShim.MR_SHIM_ABI_VERSION)
                {
                    throw new InvalidOperationException(
                        $"The native shim in {libraries.Directory} has ABI version {read.AbiVersion}, but these bindings " +
                        $"expect {MrShim.MR_SHIM_ABI_VERSION}. Rebuild the native libraries (./build.sh build).");
                }

                NativeLog.Install();
                Llama.llama_backend_init();
                Volatile.Write(ref buildInfo, read);
            }

            return buildInfo;
        }
    }

    /// <summary>Devices ggml sees now (the CPU included), with their current free memory.</summary>
    public static unsafe IReadOnlyList<ComputeDevice> GetDevices()
    {
        EnsureInitialized();
        var count = MrShim.mr_device_count();
        var devices = new List<ComputeDevice>(count);
        for (var i = 0; i < count; i++)
        {
            mr_device_info device;
            if (MrShim.mr_device_info_get(i, &device) != mr_status.MR_STATUS_OK)
            {
                continue;
            }

            devices.Add(new ComputeDevice(
                device.index,
                Utf8Field(device.name, 64),
                Utf8Field(device.description, 256),
                (ComputeDeviceKind)device.type,
                device.memory_free,
                device.memory_total));
        }

        return devices;
    }

    /// <summary>Physical and available host memory, page size and the mlock limit.</summary>
    public static unsafe HostMemoryInfo GetHostMemory()
    {
        EnsureInitialized();
        mr_host_memory_info info;
        var status = MrShim.mr_host_memory_query(&info);
        if (status != mr_status.MR_STATUS_OK)
        {
            throw new InvalidOperationException("mr_host_memory_query failed: " + Marshal.PtrToStringUTF8((nint)MrShim.mr_status_string(status)));
        }

        return new HostMemoryInfo(info.page_size, info.total_bytes, info.available_bytes, info.lock_limit_bytes);
    }

    private static unsafe NativeBuildInfo ReadBuildInfo(string directory)
    {
        mr_build_info info;
        _ = MrShim.mr_build_info_get(&info);
        var backends = new List<string>(2);
        if ((info.compiled_backends & (uint)mr_backend_flags.MR_BACKEND_CPU) != 0)
        {
            backends.Add("cpu");
        }

        if ((info.compiled_backends & (uint)mr_backend_flags.MR_BACKEND_CUDA) != 0)
        {
            backends.Add("cuda");
        }

        return new NativeBuildInfo(
            info.abi_version,
            Utf8Field(info.llama_commit, 48),
            Utf8Field(info.ggml_version, 32),
            Utf8Field(info.ggml_commit, 48),
            backends,
            directory);
    }

    /// <summary>Reads a NUL-terminated UTF-8 string from a fixed-size C char array.</summary>
    private static unsafe string Utf8Field(sbyte* field, int capacity)
    {
        var bytes = new ReadOnlySpan<byte>(field, capacity);
        var end = bytes.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }
}
