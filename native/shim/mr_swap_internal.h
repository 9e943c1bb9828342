/* Private to the swap engine's sources (mr_swap_cuda.c, mr_swap_buffer.c; MR_CUDA=ON, Linux). */
#ifndef MR_SWAP_INTERNAL_H
#define MR_SWAP_INTERNAL_H

#include "mr_cuda_common.h"

#include "ggml-backend-impl.h"

#include <pthread.h>

#define MR_DEFAULT_CHUNK_BYTES (64ull << 20)
#define MR_DEFAULT_STREAMS     2

struct mr_chunk {
    uint64_t offset; /* from the region's base */
    uint64_t size;   /* a multiple of the granularity, at most chunk_bytes */
    int      mapped;
};

struct mr_swap_region {
    /* The impostor. MUST stay the first member: alloc_buffer gets this pointer and casts it back. */
    struct ggml_backend_buffer_type buft;
    ggml_backend_buffer_type_t      real_buft;

    pthread_mutex_t lock;
    int             device;
    CUdevice        cu_device;
    CUdeviceptr     base;
    uint64_t        reserved;
    uint64_t        granularity;
    uint64_t        chunk_bytes;
    uint64_t        used; /* bytes handed out to buffers, granularity-aligned */

    struct mr_chunk * chunks;
    uint32_t          chunk_count;
    uint32_t          chunk_capacity;

    cudaStream_t * streams;
    int            stream_count;

    enum mr_swap_state state;
    int                captured;

    unsigned char * image;
    uint64_t        image_bytes;
    int             image_registered; /* 1: file mapping + cudaHostRegister; 0: cudaHostAlloc */
    char *          cache_path;

    uint32_t live_buffers;
    int      destroy_pending;
    double   last_evict_ms;
    double   last_restore_ms;
    double   last_capture_ms;
    uint32_t restore_count;

    uint64_t layout_hash;      /* see mr_swap_stats.layout_hash; updated by every alloc_buffer */
    int      adopting;         /* an adopted image is waiting for capture: buffers discard uploads */
    int      image_adopted;
    uint64_t adopt_layout_hash;
};

#define MR_FNV_OFFSET 1469598103934665603ull
#define MR_FNV_PRIME  1099511628211ull

static inline uint64_t mr_fnv_mix(uint64_t hash, uint64_t value) {
    for (int i = 0; i < 8; i++) {
        hash ^= (value >> (8 * i)) & 0xffu;
        hash *= MR_FNV_PRIME;
    }
    return hash;
}

struct mr_swap_buffer {
    struct mr_swap_region * region;
    void *                  base;
};

static inline uint64_t mr_round_up(uint64_t value, uint64_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}
/* mr_swap_cuda.c: appends and maps the chunks backing [offset, offset + size), all or nothing; frees a
 * region whose last buffer is gone (or that has none). */
enum mr_status mr_region_grow(struct mr_swap_region * r, uint64_t offset, uint64_t size);
void mr_region_free_now(struct mr_swap_region * r);

/* mr_swap_buffer.c: the impostor buffer type's alloc_buffer. */
ggml_backend_buffer_t mr_impostor_alloc_buffer(ggml_backend_buffer_type_t buft, size_t size);

#endif /* MR_SWAP_INTERNAL_H */
