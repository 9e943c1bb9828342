/* The backend-neutral swap region (mr_swap_region.c): state machine, chunk table, host-image accounting,
 * error and rollback rules, built into CPU and CUDA builds alike. A backend (mr_swap_cpu.c: anonymous
 * pages and threads; mr_swap_cuda.c: VMM chunks and copy streams) supplies only what touches memory or
 * the device: commit/release one chunk, copy the whole range to or from the image, and free its own
 * state; the optional hooks below let CUDA keep its calls in their old order (device entry, device sync
 * before capture/evict, stream drain before a rollback, restore's map-then-queue-copy per chunk).
 *
 * Invariants the core keeps, whatever the backend:
 *   - chunks lie in [0, used) in order, each at most chunk_bytes, each a multiple of the granularity; they cover
 *     it but for the gaps large_alignment leaves before a large allocation (never committed, never copied);
 *   - RESIDENT: every chunk committed; EVICTED: none committed (a failed restore releases what it
 *     committed before it returns, so a region is never half-mapped);
 *   - the image, once captured, holds exactly `used` bytes and never changes (weights are read-only). */
#ifndef MR_REGION_H
#define MR_REGION_H

#include "mr_shim_internal.h"

#include "ggml-backend-impl.h"

#include <pthread.h>

#define MR_DEFAULT_CHUNK_BYTES (64ull << 20)

struct mr_region_chunk {
    uint64_t offset; /* from the region's base */
    uint64_t size;
    int      committed;
    int      pooled; /* CPU: committed as anonymous pages, which release may keep in the page pool */
};

enum mr_region_copy {
    MR_REGION_TO_IMAGE   = 0, /* capture */
    MR_REGION_FROM_IMAGE = 1, /* restore */
};

struct mr_swap_region;

struct mr_region_ops {
    const char * name; /* in error texts: "CPU", "CUDA" */
    /* Backend behaviour flags. recapture: a second capture copies again instead of failing (CUDA's
     * behaviour before the shared core; kept). keep_image_on_failed_capture: a failed capture copy keeps
     * the image for the next try (CUDA's old behaviour) instead of freeing it (CPU). */
    int recapture;
    int keep_image_on_failed_capture;
    enum mr_status (*commit)(struct mr_swap_region * r, struct mr_region_chunk * c);
    enum mr_status (*release)(struct mr_swap_region * r, struct mr_region_chunk * c);
    enum mr_status (*image_alloc)(struct mr_swap_region * r, uint64_t size);
    void (*image_free)(struct mr_swap_region * r);
    /* Copies every chunk; returns after all copies completed. */
    enum mr_status (*copy)(struct mr_swap_region * r, enum mr_region_copy direction);
    /* Bytes of the committed range that differ from the image (a test aid). */
    enum mr_status (*mismatches)(struct mr_swap_region * r, uint64_t * out);
    /* Releases the reservation and the backend's own state (chunks are already released; the core frees
     * the image right after, with image_free). */
    void (*free_backend)(struct mr_swap_region * r);

    /* Optional hooks (NULL: nothing to do). */
    /* After the state checks of allocate/capture/evict/restore/verify, before anything touches
     * memory (CUDA: make the device current). */
    enum mr_status (*enter)(struct mr_swap_region * r);
    /* Capture and evict, after enter: wait until nothing else reads or writes the weights (CUDA:
     * cudaDeviceSynchronize). `what` prefixes the error text. */
    enum mr_status (*quiesce)(struct mr_swap_region * r, const char * what);
    /* Before a rollback releases chunks: wait for copies that may still target them; errors ignored. */
    void (*drain)(struct mr_swap_region * r);
    /* First thing when a region is freed (CUDA: device sync, best effort). */
    void (*free_begin)(struct mr_swap_region * r);
    /* Restore pipelining (CUDA): queue chunk i's copy from the image right after it is committed, so the
     * next commit overlaps this copy; restore_finish waits for all of them. Without it restore commits
     * every chunk, then calls copy(FROM_IMAGE). */
    enum mr_status (*restore_chunk)(struct mr_swap_region * r, uint32_t index);
    enum mr_status (*restore_finish)(struct mr_swap_region * r);
    /* Capture, after quiesce: when the backend holds an adopted image (CUDA adopt_image), it copies that
     * in and sets *handled; otherwise capture allocates the image and copies the weights out. */
    enum mr_status (*capture_adopted)(struct mr_swap_region * r, int * handled);
    /* mr_swap_region_adopt_image / mr_swap_region_buffer_type (NULL: refused as unsupported). adopt is
     * called with the lock held and the state checked (empty, nothing allocated); it calls enter itself,
     * after its own checks (CUDA's old order). */
    enum mr_status (*adopt_image)(struct mr_swap_region * r, uint64_t expected_bytes, uint64_t expected_layout_hash);
    ggml_backend_buffer_type_t (*buffer_type)(struct mr_swap_region * r);
};

struct mr_swap_region {
    const struct mr_region_ops * ops;
    pthread_mutex_t              lock;

    unsigned char * base; /* CUDA: the device address of the reservation (never dereferenced by the core) */
    uint64_t        reserved;
    uint64_t        granularity;
    uint64_t        chunk_bytes;
    uint64_t        used; /* bytes handed out to buffers, granularity-aligned */
    /* An allocation of at least this many bytes starts on a multiple of it (0: none). CPU: 2 MiB, so that a large
     * buffer's pages can be huge pages and move to and from the page pool whole (a move keeps a huge page only
     * between addresses 2 MiB apart); the gap before it, under 2 MiB of address space, is never committed. */
    uint64_t        large_alignment;
    int             threads; /* CPU: copy threads; CUDA: copy streams */

    struct mr_region_chunk * chunks;
    uint32_t                 chunk_count;
    uint32_t                 chunk_capacity;

    enum mr_swap_state state;
    int                captured;
    unsigned char *    image;
    uint64_t           image_bytes;
    int                map_image; /* CPU: restore maps the image (a memfd) instead of copying it */
    int                image_fd;  /* CPU, map_image: the memfd; -1 otherwise */
    int                image_registered; /* CUDA: 1: file mapping + cudaHostRegister; 0: cudaHostAlloc (stats) */
    int                image_adopted;    /* CUDA: the image came from an earlier process (stats) */

    uint32_t live_buffers;
    int      destroy_pending;
    double   last_evict_ms;
    double   last_restore_ms;
    double   last_capture_ms;
    double   last_restore_commit_ms;
    uint64_t last_restore_reused_bytes;
    uint64_t commit_reused_bytes; /* CPU: total bytes commit took from the page pool (the backend adds) */
    uint32_t restore_count;
    uint64_t layout_hash; /* FNV-1a of the granularity, chunk size and every allocation's size, in order */

    /* Fault injection for the C test only: the n-th commit from now fails (0: never). */
    uint32_t fail_commit_in;

    /* Backend state. */
    struct mr_swap_region * next;    /* the CPU backend's registry of live regions */
    void *                  backend; /* the CUDA backend's state (struct mr_cuda_region) */
};

#define MR_FNV_OFFSET 1469598103934665603ull
#define MR_FNV_PRIME  1099511628211ull

static inline uint64_t mr_region_fnv_mix(uint64_t hash, uint64_t value) {
    for (int i = 0; i < 8; i++) {
        hash ^= (value >> (8 * i)) & 0xffu;
        hash *= MR_FNV_PRIME;
    }
    return hash;
}

static inline uint64_t mr_region_round_up(uint64_t value, uint64_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

double mr_region_now_ms(void);

/* Initialises the common fields (ops, granularity, chunk size, lock, state EMPTY). */
void mr_region_init(struct mr_swap_region * r, const struct mr_region_ops * ops, uint64_t granularity,
                    uint64_t chunk_bytes, uint64_t reserved, int threads);

/* Called with the lock held by a backend's allocation: hands out [used, used + aligned) committed, all or
 * nothing; *offset receives where it starts. */
enum mr_status mr_region_allocate(struct mr_swap_region * r, uint64_t size, uint64_t * offset);

/* A buffer of the region is gone; frees the region when it was the last one and destroy was called. */
void mr_region_buffer_released(struct mr_swap_region * r);

/* Frees the region now: releases committed chunks, then the backend, the image and the table. Also for a
 * backend's create that failed half-way (ops and lock set by mr_region_init). */
void mr_region_free_now(struct mr_swap_region * r);

#endif /* MR_REGION_H */
