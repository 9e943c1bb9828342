using System.Runtime.InteropServices;
using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Models;

/// <summary>
/// The native memory behind one llama_model_params during a load: device list, buffer-type overrides and their
/// pattern strings. llama.cpp reads these only while loading (llama-model-loader.cpp), so they are freed after.
/// </summary>
internal sealed unsafe class NativeLoadParameters : IDisposable
{
    private readonly List<nint> allocations = [];

    public NativeLoadParameters(ModelLoadOptions options)
    {
        Value = Llama.llama_model_default_params();
        if (options.LoadMode is { } mode)
        {
            Value.load_mode = (llama_load_mode)(int)mode;
        }

        if (options.LazyRead is { } lazy)
        {
            Value.lazy_mode = lazy ? llama_lazy_mode.LLAMA_LAZY_MODE_ON : llama_lazy_mode.LLAMA_LAZY_MODE_OFF;
        }

        if (options.GpuLayers is { } layers)
        {
            Value.n_gpu_layers = layers;
        }

        Value.vocab_only = options.VocabOnly;
        Value.check_tensors = options.CheckTensors;
        try
        {
            if (options.Devices is { Count: > 0 } devices)
            {
                Value.devices = BuildDeviceList(devices);
            }

            var named = options.BufferTypeOverrides ?? [];
            var native = options.NativeBufferTypeOverrides ?? [];
            if (named.Count + native.Count > 0)
            {
                Value.tensor_buft_overrides = BuildOverrides(named, native);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public llama_model_params Value;

    public void Dispose()
    {
        foreach (var allocation in allocations)
        {
            NativeMemory.Free((void*)allocation);
        }

        allocations.Clear();
    }

    private T* Allocate<T>(int count)
        where T : unmanaged
    {
        var memory = (T*)NativeMemory.AllocZeroed((nuint)count, (nuint)sizeof(T));
        allocations.Add((nint)memory);
        return memory;
    }

    private ggml_backend_device** BuildDeviceList(IReadOnlyList<string> names)
    {
        var list = Allocate<nint>(names.Count + 1); // NULL-terminated
        for (var i = 0; i < names.Count; i++)
        {
            list[i] = (nint)FindDevice(names[i]);
        }

        return (ggml_backend_device**)list;
    }

    private llama_model_tensor_buft_override* BuildOverrides(IReadOnlyList<TensorBufferOverride> named, IReadOnlyList<(string Pattern, nint BufferType)> native)
    {
        var table = Allocate<llama_model_tensor_buft_override>(named.Count + native.Count + 1); // {NULL, NULL}-terminated
        var i = 0;
        foreach (var entry in named)
        {
            table[i].pattern = AllocateString(entry.Pattern);
            table[i++].buft = FindBufferType(entry.BufferType);
        }

        foreach (var (pattern, bufferType) in native)
        {
            table[i].pattern = AllocateString(pattern);
            table[i++].buft = (ggml_backend_buffer_type*)bufferType;
        }

        return table;
    }

    private sbyte* AllocateString(string value)
    {
        var bytes = NativeStrings.Allocate(value);
        allocations.Add((nint)bytes);
        return (sbyte*)bytes;
    }

    private static ggml_backend_device* FindDevice(string name)
    {
        var count = (int)GgmlBackend.ggml_backend_dev_count();
        var known = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var device = GgmlBackend.ggml_backend_dev_get((nuint)i);
            var deviceName = NativeStrings.Read(GgmlBackend.ggml_backend_dev_name(device)) ?? "";
            if (string.Equals(deviceName, name, StringComparison.OrdinalIgnoreCase))
            {
                return device;
            }

            known.Add(deviceName);
        }

        throw new ArgumentException($"Unknown device '{name}'. Devices of this build: {string.Join(", ", known)}.", nameof(name));
    }

    private static ggml_backend_buffer_type* FindBufferType(string name)
    {
        var count = (int)GgmlBackend.ggml_backend_dev_count();
        var known = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var device = GgmlBackend.ggml_backend_dev_get((nuint)i);
            foreach (var buft in new[] { GgmlBackend.ggml_backend_dev_buffer_type(device), GgmlBackend.ggml_backend_dev_host_buffer_type(device) })
            {
                if (buft == null)
                {
                    continue;
                }

                var buftName = NativeStrings.Read(GgmlBackend.ggml_backend_buft_name(buft)) ?? "";
                if (string.Equals(buftName, name, StringComparison.OrdinalIgnoreCase))
                {
                    return buft;
                }

                known.Add(buftName);
            }
        }

        throw new ArgumentException($"Unknown buffer type '{name}'. Buffer types of this build: {string.Join(", ", known)}.", nameof(name));
    }
}
