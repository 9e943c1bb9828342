/* CUDA builds only (MR_CUDA=ON): page-locked host memory registered with the driver, the source of
 * full-bandwidth DMA into VRAM. Portable allocations stay in mr_host_memory.c. */
#include "mr_shim_internal.h"

#include <cuda_runtime_api.h>

enum mr_status mr_cuda_host_alloc_pinned(uint64_t size, void ** out) {
    *out = NULL;
    /* Portable: usable from every CUDA context; WriteCombined is not used because the tier is read
     * back by the CPU when it is written to a cache file. */
    cudaError_t err = cudaHostAlloc(out, (size_t) size, cudaHostAllocPortable);
    if (err == cudaErrorMemoryAllocation) {
        return MR_STATUS_OUT_OF_MEMORY;
    }
    return err == cudaSuccess ? MR_STATUS_OK : MR_STATUS_SYSTEM_ERROR;
}

void mr_cuda_host_free_pinned(void * ptr) {
    if (ptr != NULL) {
        cudaFreeHost(ptr);
    }
}
