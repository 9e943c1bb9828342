/* Private to the CUDA backend of the swap region (mr_swap_cuda.c, mr_swap_buffer.c; MR_CUDA=ON, Linux).
 * The region itself (state machine, chunk table, accounting, rollback) is the shared core: mr_region.h,
 * mr_swap_region.c. This header adds only the CUDA backend's state. */
#ifndef MR_SWAP_INTERNAL_H
#define MR_SWAP_INTERNAL_H

#include "mr_cuda_common.h"
#include "mr_region.h"

#include "ggml-backend-impl.h"

#define MR_DEFAULT_STREAMS 2

/* The CUDA backend's state, r->backend of a CUDA region. */
struct mr_cuda_region {
    /* The impostor. MUST stay the first member: alloc_buffer gets this pointer and casts it back. */
    struct ggml_backend_buffer_type buft;
    ggml_backend_buffer_type_t      real_buft;
    struct mr_swap_region *         region;

    int      device;
    CUdevice cu_device;

    cudaStream_t * streams; /* region->threads of them */

    char * cache_path;

    int      adopting; /* an adopted image is waiting for capture: buffers discard uploads */
    uint64_t adopt_layout_hash;
};

static inline struct mr_cuda_region * mr_cuda_of(const struct mr_swap_region * r) {
    return (struct mr_cuda_region *) r->backend;
}

/* The reservation's device address (the core keeps it as an opaque pointer). */
static inline CUdeviceptr mr_cuda_base(const struct mr_swap_region * r) {
    return (CUdeviceptr) (uintptr_t) r->base;
}

struct mr_swap_buffer {
    struct mr_swap_region * region;
    void *                  base;
};

/* mr_swap_buffer.c: the impostor buffer type's alloc_buffer. */
ggml_backend_buffer_t mr_impostor_alloc_buffer(ggml_backend_buffer_type_t buft, size_t size);

#endif /* MR_SWAP_INTERNAL_H */
