using ModelRouter.Runtime.Native;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Runtime.Tests;

public sealed class NativeRuntimeTests
{
    [Fact]
    public void Build_info_names_the_pinned_llama_cpp_commit()
    {
        var info = NativeRuntime.EnsureInitialized();

        var lockFile = Path.Combine(TestRepository.Root, "native", "llama.cpp.lock");
        var pinned = File.ReadLines(lockFile).Single(l => l.StartsWith("LLAMA_COMMIT=", StringComparison.Ordinal))["LLAMA_COMMIT=".Length..];
        if (Environment.GetEnvironmentVariable("LLAMA_CPP_DIR") is { Length: > 0 })
        {
            Assert.Matches("^[0-9a-f]{40}$|^unknown$", info.LlamaCommit);
        }
        else
        {
            Assert.Equal(pinned, info.LlamaCommit);
        }

        Assert.Contains("cpu", info.CompiledBackends);
        Assert.Matches(@"^\d+\.\d+\.\d+", info.GgmlVersion);
        Assert.Same(info, NativeRuntime.EnsureInitialized());
    }

    [Fact]
    public void Devices_include_the_cpu_with_its_memory()
    {
        var devices = NativeRuntime.GetDevices();

        var cpu = Assert.Single(devices, d => d.Kind == ComputeDeviceKind.Cpu);
        Assert.False(string.IsNullOrWhiteSpace(cpu.Name));
        Assert.True(cpu.MemoryTotalBytes > 0);
        Assert.InRange(cpu.MemoryFreeBytes, 1UL, cpu.MemoryTotalBytes);
    }

    [Fact]
    public void Host_memory_reports_page_size_and_ram()
    {
        var host = NativeRuntime.GetHostMemory();

        Assert.True(host.PageSizeBytes >= 4096 && (host.PageSizeBytes & (host.PageSizeBytes - 1)) == 0);
        Assert.True(host.TotalBytes > 0);
        Assert.InRange(host.AvailableBytes, 1UL, host.TotalBytes);
    }
}
