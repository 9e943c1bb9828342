/* `mr_probe`: what this native build can do on this machine, without .NET. Used on GPU machines to
 * record the device and its memory next to benchmark figures. */
#include "llama.h"
#include "mr_shim.h"

#include <stdio.h>

int main(void) {
    llama_backend_init();

    struct mr_build_info build;
    mr_build_info_get(&build);
    printf("mr_shim abi %d, llama.cpp %s, ggml %s (%s)\n", build.abi_version, build.llama_commit,
           build.ggml_version, build.ggml_commit);
    printf("compiled backends:%s%s\n", (build.compiled_backends & MR_BACKEND_CPU) ? " cpu" : "",
           (build.compiled_backends & MR_BACKEND_CUDA) ? " cuda" : "");
    printf("llama: supports_gpu_offload=%d supports_mmap=%d supports_mlock=%d max_devices=%zu\n",
           llama_supports_gpu_offload(), llama_supports_mmap(), llama_supports_mlock(), llama_max_devices());

    int32_t n = mr_device_count();
    printf("devices: %d\n", n);
    for (int32_t i = 0; i < n; i++) {
        struct mr_device_info dev;
        if (mr_device_info_get(i, &dev) != MR_STATUS_OK) {
            continue;
        }
        printf("  [%d] %s: %s (type %d), memory %.1f GiB free of %.1f GiB\n", i, dev.name, dev.description,
               dev.type, (double) dev.memory_free / (1u << 30), (double) dev.memory_total / (1u << 30));
    }

    /* The swap engine: VMM support and granularity of CUDA device 0, or why there is none. */
    struct mr_swap_device_info swap;
    enum mr_status st = mr_swap_device_query(0, &swap);
    if (st == MR_STATUS_OK) {
        printf("swap engine: CUDA device 0 %s, cc %d, PCI bus %d, driver %d, runtime %d, VMM %s, granularity %llu KiB\n",
               swap.name, swap.compute_capability, swap.pci_bus_id, swap.driver_version, swap.runtime_version,
               swap.vmm_supported ? "yes" : "NO", (unsigned long long) (swap.granularity_bytes >> 10));
    } else {
        printf("swap engine: unavailable (%s: %s)\n", mr_status_string(st), mr_last_error());
    }

    struct mr_host_memory_info host;
    if (mr_host_memory_query(&host) == MR_STATUS_OK) {
        printf("host: page %llu B, RAM %.1f GiB, available %.1f GiB\n", (unsigned long long) host.page_size,
               (double) host.total_bytes / (1u << 30), (double) host.available_bytes / (1u << 30));
    }
    llama_backend_free();
    return 0;
}
