/*
 * mr_shim: ModelRouter.Native's own small C ABI beside llama.cpp.
 *
 * It answers what the managed side cannot ask llama.cpp directly and cheaply: which backends were
 * compiled in, which devices exist with how much memory, and host-memory facts and allocations
 * (page-aligned, optionally locked) that the weight tiers build on. CUDA builds add the swap engine
 * (see "Swap regions" below and mr_swap_cuda.c): a VMM-backed impostor of the CUDA buffer type whose
 * physical VRAM can be released and restored while the model keeps its virtual addresses.
 *
 * Rules of this ABI: plain C, fixed-width types, no bit-fields, caller-owned output structs, every
 * function that can fail returns an mr_status, strings returned are static and never freed by callers.
 * The bindings generator reads this header; keep it parseable as C11 on its own.
 */
#ifndef MR_SHIM_H
#define MR_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ggml-backend.h" /* ggml_backend_buffer_type_t */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#    if defined(MR_SHIM_BUILD)
#        define MR_API __declspec(dllexport)
#    else
#        define MR_API __declspec(dllimport)
#    endif
#else
#    define MR_API __attribute__((visibility("default")))
#endif

/* Bumped whenever a struct or signature below changes; the managed loader refuses a mismatch. */
#define MR_SHIM_ABI_VERSION 3

enum mr_status {
    MR_STATUS_OK               = 0,
    MR_STATUS_INVALID_ARGUMENT = -1,
    MR_STATUS_OUT_OF_RANGE     = -2,
    MR_STATUS_OUT_OF_MEMORY    = -3,
    MR_STATUS_UNSUPPORTED      = -4,
    MR_STATUS_SYSTEM_ERROR     = -5,
    MR_STATUS_INVALID_STATE    = -6, /* the call does not apply in the object's current state */
    MR_STATUS_DEVICE_ERROR     = -7, /* a CUDA call failed; mr_last_error() names it */
};

/* Backends compiled into this build (a bit set). */
enum mr_backend_flags {
    MR_BACKEND_CPU  = 1 << 0,
    MR_BACKEND_CUDA = 1 << 1,
};

/* What a host allocation asks for, and (in mr_host_buffer.granted) what it got. */
enum mr_host_alloc_flags {
    MR_HOST_ALLOC_DEFAULT    = 0,
    MR_HOST_ALLOC_LOCKED     = 1 << 0, /* mlock: never paged out (needs RLIMIT_MEMLOCK) */
    MR_HOST_ALLOC_HUGE_PAGES = 1 << 1, /* advise transparent huge pages */
    MR_HOST_ALLOC_PINNED     = 1 << 2, /* page-locked and registered with the GPU driver (CUDA builds) */
};

struct mr_build_info {
    int32_t  abi_version;           /* MR_SHIM_ABI_VERSION the library was built with */
    uint32_t compiled_backends;     /* mr_backend_flags */
    char     llama_commit[48];      /* llama.cpp commit the build used (from native/llama.cpp.lock) */
    char     ggml_version[32];      /* ggml_version() */
    char     ggml_commit[48];       /* ggml_commit() */
};

struct mr_device_info {
    char     name[64];
    char     description[256];
    int32_t  type;                  /* enum ggml_backend_dev_type */
    int32_t  index;
    uint64_t memory_free;           /* bytes, as the backend reports now */
    uint64_t memory_total;          /* bytes */
    bool     supports_async;
    bool     supports_host_buffer;
    bool     supports_events;
};

struct mr_host_memory_info {
    uint64_t page_size;             /* bytes */
    uint64_t total_bytes;           /* physical RAM */
    uint64_t available_bytes;       /* MemAvailable (Linux) or the closest equivalent */
    uint64_t lock_limit_bytes;      /* RLIMIT_MEMLOCK soft limit; UINT64_MAX when unlimited */
};

struct mr_host_buffer {
    void *   data;
    uint64_t size;                  /* bytes, rounded up to the page size */
    uint32_t requested;             /* mr_host_alloc_flags asked for */
    uint32_t granted;               /* mr_host_alloc_flags obtained (LOCKED may be refused by limits) */
};

MR_API const char * mr_status_string(enum mr_status status);

/* Version and capabilities of this build. Never fails for a non-null out. */
MR_API enum mr_status mr_build_info_get(struct mr_build_info * out);

/* Loads ggml's dynamic backends if any and returns how many devices ggml sees (CPU included). */
MR_API int32_t mr_device_count(void);
MR_API enum mr_status mr_device_info_get(int32_t index, struct mr_device_info * out);

MR_API enum mr_status mr_host_memory_query(struct mr_host_memory_info * out);

/* Page-aligned host allocation. LOCKED and HUGE_PAGES are best effort: see out->granted.
 * PINNED is all or nothing: MR_STATUS_UNSUPPORTED on a build without CUDA. */
MR_API enum mr_status mr_host_alloc(uint64_t size, uint32_t flags, struct mr_host_buffer * out);
/* Frees what mr_host_alloc returned and zeroes *buffer; a zeroed buffer is a no-op. */
MR_API void mr_host_free(struct mr_host_buffer * buffer);

/* Thread-local text of the last failure on this thread (a CUDA error name plus what was being done);
 * "" when nothing failed yet. Valid until the next shim call on the same thread. */
MR_API const char * mr_last_error(void);
/* Status of that failure (MR_STATUS_OK when nothing failed): lets a caller tell device memory running
 * out (MR_STATUS_OUT_OF_MEMORY, worth evicting something and retrying) from other faults, also when the
 * failure happened inside a llama.cpp call that only reports "failed" (a swap region's buffer type). */
MR_API enum mr_status mr_last_status(void);

/* ---------------------------------------------------------------------------------------------------
 * Swap regions. CUDA builds: created by mr_swap_region_create (below). CPU builds on Linux: created by
 * mr_swap_region_create_cpu (see "CPU swap regions"); mr_swap_region_create and the CUDA-only calls return
 * MR_STATUS_UNSUPPORTED there.
 *
 * A region is one model's weights on one device. Lifecycle, all from one owner thread at a time:
 *   create -> load the model with tensor_buft_overrides {".*", mr_swap_region_buffer_type(region)} and
 *   all layers on the GPU -> capture (once) -> { evict -> restore }* -> llama_model_free -> destroy.
 * Evict releases the physical VRAM but keeps the virtual range, so the llama_model, its contexts and
 * their captured CUDA graphs stay valid. No kernel may read the weights while the region is EVICTED:
 * that is a sticky CUDA error for the whole process, so every decode must be gated by the caller. */

enum mr_swap_state {
    MR_SWAP_EMPTY    = 0, /* created, nothing allocated yet */
    MR_SWAP_RESIDENT = 1, /* weights mapped in VRAM */
    MR_SWAP_EVICTED  = 2, /* physical VRAM released, virtual range still reserved */
};

struct mr_swap_options {
    int32_t     device;        /* CUDA device ordinal (ggml's CUDA device index; the same unless GGML_CUDA_DEVICES remaps) */
    int32_t     streams;       /* copy streams for capture/restore; < 1 means 2 */
    uint64_t    chunk_bytes;   /* physical chunk and copy piece; 0 means 64 MiB; rounded up to the VMM granularity */
    const char *cache_path;    /* host image file (e.g. under /dev/shm); NULL: anonymous pinned memory */
    uint64_t    reserve_bytes; /* virtual range to reserve; 0 means the device's total memory */
};

struct mr_swap_stats {
    uint64_t weight_bytes;          /* bytes of VRAM the model's weights occupy (mapped) */
    uint64_t reserved_bytes;        /* virtual range reserved */
    uint64_t host_image_bytes;
    int32_t  state;                 /* enum mr_swap_state */
    uint32_t host_image_registered; /* 1: file mapping registered with cudaHostRegister; 0: anonymous pinned fallback */
    double   last_evict_ms;
    double   last_restore_ms;
    double   last_capture_ms;
    uint64_t chunk_bytes;           /* effective chunk size (granularity-rounded) */
    uint64_t granularity_bytes;     /* the device's VMM allocation granularity */
    uint32_t chunk_count;           /* physical chunks backing the weights */
    int32_t  streams;               /* effective copy streams */
    uint32_t buffer_count;          /* live ggml buffers allocated through the region's buffer type */
    uint32_t restore_count;         /* successful restores so far */
    uint64_t layout_hash;           /* FNV-1a of the granularity, chunk size and every buffer allocation's size, in order */
    uint32_t image_adopted;         /* 1: the host image came from an earlier process (mr_swap_region_adopt_image) */
    uint32_t reserved0;
    double   last_restore_commit_ms;    /* of last_restore_ms, the part spent committing memory before the copy (CPU:
                                           moving kept pages in, mapping fresh ones); 0 where commit and copy overlap (CUDA) */
    uint64_t last_restore_reused_bytes; /* CPU: bytes of the last restore's pages taken from the page pool (no page faults) */
};

struct mr_bandwidth_result {
    double   seconds;               /* median of the timed repetitions */
    double   gigabytes_per_second;  /* decimal GB (1e9 bytes) per second */
    uint64_t bytes;
    uint64_t chunk_bytes;
    int32_t  streams;
    int32_t  pinned;                /* 1: from pinned host memory; 0: from pageable memory */
};

struct mr_swap_device_info {
    int32_t  device;
    int32_t  vmm_supported;         /* CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED */
    int32_t  driver_version;        /* cudaDriverGetVersion, e.g. 12080 */
    int32_t  runtime_version;       /* cudaRuntimeGetVersion */
    uint64_t granularity_bytes;     /* minimum VMM allocation granularity */
    uint64_t memory_free_bytes;
    uint64_t memory_total_bytes;
    int32_t  pci_bus_id;
    int32_t  compute_capability;    /* major * 10 + minor, e.g. 90 */
    char     name[96];
};

struct mr_swap_region; /* opaque */

/* What the device offers the swap engine. MR_STATUS_UNSUPPORTED in CPU builds. */
MR_API enum mr_status mr_swap_device_query(int32_t device, struct mr_swap_device_info * out);

/* Reserves the virtual range and creates the copy streams; allocates no VRAM yet. */
MR_API enum mr_status mr_swap_region_create(const struct mr_swap_options * options, struct mr_swap_region ** out);
/* The impostor buffer type, valid until destroy: for tensor_buft_overrides {".*", buft}. */
MR_API ggml_backend_buffer_type_t mr_swap_region_buffer_type(struct mr_swap_region * region);
/* Optional, before the model loads: adopt the host image an earlier process left at cache_path (the warm
 * tier survives a restart). The file must hold exactly expected_bytes. While the model loads, the buffer
 * type discards the loader's uploads (those bytes are in the image already, so the GGUF's tensor data is
 * never read); capture then copies the image INTO VRAM, after checking that this load allocated the very
 * same layout (expected_layout_hash, from the stats of the process that captured it). On a mismatch
 * capture returns MR_STATUS_INVALID_STATE: the weights in VRAM are then garbage; free the model, destroy
 * the region and load again without adopting. */
MR_API enum mr_status mr_swap_region_adopt_image(struct mr_swap_region * region, uint64_t expected_bytes,
                                                 uint64_t expected_layout_hash);
/* Once, after the model loaded through the buffer type: VRAM -> host image (bit-exact, padding included);
 * with an adopted image, host image -> VRAM instead (see above). */
MR_API enum mr_status mr_swap_region_capture(struct mr_swap_region * region);
/* Device sync, unmap + release every physical chunk; the virtual range stays reserved. EVICTED is a no-op. */
MR_API enum mr_status mr_swap_region_evict(struct mr_swap_region * region);
/* Re-creates and maps the chunks at the same addresses and copies the image back over the streams;
 * returns when complete. On failure nothing stays mapped and the state stays EVICTED. RESIDENT is a no-op. */
MR_API enum mr_status mr_swap_region_restore(struct mr_swap_region * region);
/* Compares VRAM with the host image (a test aid: slow, copies everything back). */
MR_API enum mr_status mr_swap_region_verify(struct mr_swap_region * region, uint64_t * mismatched_bytes);
MR_API enum mr_status mr_swap_region_stats(const struct mr_swap_region * region, struct mr_swap_stats * out);
/* After llama_model_free. If buffers are still alive, the region is freed when the last one is. */
MR_API void mr_swap_region_destroy(struct mr_swap_region * region);

/* ---------------------------------------------------------------------------------------------------
 * CPU swap regions (CPU builds on Linux; MR_STATUS_UNSUPPORTED elsewhere, CUDA builds included for now).
 *
 * The same state machine as a CUDA region, over host memory: one reserved virtual range (PROT_NONE)
 * whose pages are committed in chunks while the model loads. Lifecycle, from one owner thread at a time:
 *   create_cpu -> load_begin -> llama_model_load_from_file (load mode NONE: no mmap, so every weight,
 *   repacked or not, is allocated) -> load_end -> capture -> { evict -> restore }* -> llama_model_free
 *   -> destroy.
 * Between load_begin and load_end every allocation of ggml's CPU buffer type ON THAT THREAD comes from
 * the region; the CPU repack buffer type allocates through it, so repacked weights land there too, in
 * their final layout. Evict replaces the committed pages with an inaccessible, unbacked mapping (RSS
 * drops; a decode that touched them would fault, not read zeros), so the caller must gate decodes. The
 * host image is anonymous memory (see mr_swap_cpu.c for why). mr_swap_region_buffer_type does not apply
 * to CPU regions. capture/evict/restore/verify/stats/destroy are the generic calls above. */

struct mr_cpu_swap_options {
    uint64_t reserve_bytes; /* virtual range to reserve; 0 means 64 GiB (address space only, nothing committed) */
    uint64_t chunk_bytes;   /* commit and copy piece; 0 means 64 MiB; rounded up to the page size */
    int32_t  threads;       /* copy threads for capture/restore; < 1 means 4 */
    int32_t  map_image;     /* 0: restore copies the image back into fresh pages (evict frees the weights' copy;
                               resident costs the weights twice: region + image). 1: the image is a memfd and
                               restore maps it read-only at the same addresses (MAP_POPULATE); resident and
                               evicted both cost the weights once, so evict drops the pages from RSS but frees
                               no memory. */
};

MR_API enum mr_status mr_swap_region_create_cpu(const struct mr_cpu_swap_options * options, struct mr_swap_region ** out);

/* The CPU page pool (process-wide). Evict normally hands a CPU region's pages back to the kernel, and restore
 * faults fresh ones in: zeroed by the kernel and, on a VM whose balloon reports free memory to the host (free page
 * reporting), faulted in by the hypervisor too once the pages have been free for a second or two. Measured on the
 * development VM: a 160 MB restore copies in 14-30 ms into kept pages, 28 ms into pages freed under a second ago,
 * and 360-700 ms into reported ones. With a limit set, evict moves the pages (mremap: page tables only, no copy) into
 * the pool instead, as long as the bytes committed in CPU regions plus the pool stay within the limit, and commit
 * (restore, or a first load) takes pages from the pool before it maps fresh ones. So the region's addresses lose
 * their pages as before (a stray read still faults), while the process keeps its peak of committed weight memory,
 * up to the limit: on CPU the device tier then behaves like VRAM, which exists whether a model uses it or not.
 * Pages of regions created with map_image are the image's own and never enter the pool. While the pool is on,
 * a CPU buffer of at least 2 MiB allocated outside a region's load (a context's KV cache or compute buffer,
 * through ggml's CPU buffer type) is served the same way: kept pages first, back to the pool when freed.
 * limit_bytes 0 turns the pool off and hands every kept page back. Not in CUDA builds (MR_STATUS_UNSUPPORTED). */
struct mr_cpu_page_pool_stats {
    uint64_t limit_bytes;     /* what mr_swap_cpu_page_pool_limit set; 0: off */
    uint64_t committed_bytes; /* anonymous pages committed in CPU regions and pooled buffers now */
    uint64_t pooled_bytes;    /* pages kept in the pool now */
    uint64_t reused_bytes;    /* total: bytes committed from the pool */
    uint64_t fresh_bytes;     /* total: bytes committed as fresh pages */
    uint64_t kept_bytes;      /* total: bytes a release moved into the pool */
    uint64_t dropped_bytes;   /* total: bytes a release (or a lower limit) handed back to the kernel */
};

MR_API enum mr_status mr_swap_cpu_page_pool_limit(uint64_t limit_bytes);
MR_API enum mr_status mr_swap_cpu_page_pool_stats(struct mr_cpu_page_pool_stats * out);
/* Routes this thread's CPU buffer allocations into the region until load_end. One load at a time per region. */
MR_API enum mr_status mr_swap_region_load_begin(struct mr_swap_region * region);
MR_API enum mr_status mr_swap_region_load_end(struct mr_swap_region * region);

/* The physical reference: cudaMemcpyAsync of total_bytes from pinned (or pageable) host memory into
 * VRAM in chunk_bytes pieces round-robin over `streams` streams; one warm-up, median of five. */
MR_API enum mr_status mr_cuda_host_to_device_bandwidth(int32_t device, uint64_t total_bytes, uint64_t chunk_bytes,
                                                       int32_t streams, int32_t pinned,
                                                       struct mr_bandwidth_result * out);

#ifdef __cplusplus
}
#endif

#endif /* MR_SHIM_H */
