/* The CPU backend of the swap region (CPU builds on Linux; the contract: "CPU swap regions" in mr_shim.h,
 * the neutral logic: mr_swap_region.c).
 *
 * How llama.cpp's weights end up in the region
 * --------------------------------------------
 * On CPU, llama.cpp puts each weight either in the CPU repack ("extra") buffer type, when a repacked
 * layout exists for its type and shape, or in the plain CPU buffer type. The repack buffer type
 * allocates through the CPU one (ggml-cpu/repack.cpp: ggml_backend_cpu_repack_buffer_type_alloc_buffer
 * calls ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), size) and then swaps in its own
 * buft and init/set_tensor). So replacing the CPU buffer type's alloc_buffer is enough to receive both,
 * and llama.cpp's own choice of buffer type per tensor stays untouched: unlike the CUDA engine we do not
 * override tensor buffer types, because an override bypasses llama.cpp's per-tensor support check and
 * would either lose repacking (slower decode) or repack tensors it cannot (wrong results).
 *
 * The replacement is installed once, process-wide, and only acts on a thread between load_begin and
 * load_end: everyone else (KV caches, compute buffers, other models' loads) gets ggml's own allocation.
 * Our buffers are ggml CPU buffers in every respect (buft is the real CPU buffer type, so the repack
 * buffer type's and the CPU backend's pointer checks pass; context is the base address, as ggml-cpu's
 * get_base and clear expect) except free_buffer, which returns the slice to its region instead of
 * freeing it. Checked against the pinned source (de3ff81): ggml-backend.cpp "CPU backend - buffer", and
 * repack.cpp's alloc_buffer; re-check both when moving the pin.
 *
 * Memory: the region reserves its range PROT_NONE and MAP_NORESERVE (address space only). Commit maps
 * fresh anonymous read/write pages over a chunk (MAP_FIXED), or moves kept ones there from the page pool
 * (below); evict maps PROT_NONE, MAP_NORESERVE pages over it again, after moving its pages into the pool
 * when the pool is on and has room, else dropping them (RSS falls); either way any stray read faults
 * instead of silently reading zeros, as madvise(MADV_DONTNEED) alone would allow. The host image is anonymous
 * memory: it needs no file to clean up and no tmpfs quota, and it is counted in the process's own RSS,
 * so the budget sees it. (A /dev/shm image would survive a restart as the CUDA one does; not done yet.)
 * Restore commits every chunk, then copies the image back with `threads` threads. With map_image the image
 * is a memfd instead, and commit after capture maps it read-only at the chunk's addresses (restore copies
 * nothing; the load's anonymous copy is swapped for the image's pages right at capture). */
#define _GNU_SOURCE
#include "mr_region.h"

#include "ggml-backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MR_DEFAULT_CPU_RESERVE (64ull << 30)
#define MR_DEFAULT_CPU_THREADS 4
#define MR_MAX_CPU_THREADS     64
#define MR_HUGE_PAGE           (2ull << 20)
#define MR_POOL_RESERVE        (1ull << 40) /* the page pool's address space: 1 TiB, nothing committed */

/* ------------------------------------------------------------------------------------------------ */
/* the allocation hook */

static pthread_once_t mr_hook_once = PTHREAD_ONCE_INIT;
static ggml_backend_buffer_t (*mr_original_alloc)(ggml_backend_buffer_type_t, size_t);
static struct ggml_backend_buffer_i mr_cpu_iface; /* ggml's CPU buffer iface, free_buffer replaced */
static int mr_hook_ok;
static _Thread_local struct mr_swap_region * mr_loading;

static pthread_mutex_t mr_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mr_swap_region * mr_registry;

static struct mr_swap_region * mr_region_of(const void * address) {
    const unsigned char * p = (const unsigned char *) address;
    pthread_mutex_lock(&mr_registry_lock);
    struct mr_swap_region * found = NULL;
    for (struct mr_swap_region * r = mr_registry; r != NULL; r = r->next) {
        if (p >= r->base && p < r->base + r->reserved) {
            found = r;
            break;
        }
    }
    pthread_mutex_unlock(&mr_registry_lock);
    return found;
}

/* Large CPU buffers outside a region's load (contexts' KV caches and compute buffers) while the page pool is on:
 * defined with the pool, below. */
static void * mr_pooled_buffer_alloc(size_t size);
static int    mr_pooled_buffer_free(void * base);

static void mr_cpu_buffer_free(ggml_backend_buffer_t buffer) {
    if (mr_pooled_buffer_free(buffer->context)) {
        return;
    }
    struct mr_swap_region * r = mr_region_of(buffer->context);
    if (r == NULL) {
        GGML_ABORT("mr_swap (CPU): a region buffer at %p outlived its region", buffer->context);
    }
    mr_region_buffer_released(r);
}

static ggml_backend_buffer_t mr_cpu_hook_alloc(ggml_backend_buffer_type_t buft, size_t size) {
    struct mr_swap_region * r = mr_loading;
    if (r == NULL) {
        void * pooled = mr_pooled_buffer_alloc(size);
        return pooled != NULL ? ggml_backend_buffer_init(buft, mr_cpu_iface, pooled, size) : mr_original_alloc(buft, size);
    }
    pthread_mutex_lock(&r->lock);
    uint64_t offset = 0;
    const enum mr_status st = mr_region_allocate(r, (uint64_t) size, &offset);
    pthread_mutex_unlock(&r->lock);
    if (st != MR_STATUS_OK) {
        /* llama.cpp then says "unable to allocate CPU buffer"; mr_last_error() on this thread says why. */
        fprintf(stderr, "mr_swap (CPU): alloc_buffer of %zu bytes failed: %s\n", size, mr_last_error());
        return NULL;
    }
    return ggml_backend_buffer_init(buft, mr_cpu_iface, r->base + offset, size);
}

static void mr_install_hook(void) {
    ggml_backend_buffer_type_t cpu = ggml_backend_cpu_buffer_type();
    mr_original_alloc = cpu->iface.alloc_buffer;
    /* ggml's CPU buffer iface is static in ggml-backend.cpp: take it from a small buffer of its own. */
    ggml_backend_buffer_t probe = mr_original_alloc(cpu, 64);
    if (probe == NULL) {
        return;
    }
    mr_cpu_iface = probe->iface;
    ggml_backend_buffer_free(probe);
    mr_cpu_iface.free_buffer = mr_cpu_buffer_free;
    /* The buffer type is a static, writable struct; one pointer store, before any region loads. */
    cpu->iface.alloc_buffer = mr_cpu_hook_alloc;
    mr_hook_ok = 1;
}

/* ------------------------------------------------------------------------------------------------ */
/* the page pool (the contract and why: "The CPU page pool" in mr_shim.h)
 *
 * Kept pages live in a range of our own address space, as a stack of segments: a release moves a chunk's
 * pages on top (one mremap: the page tables move, the data stays where it is in RAM), a commit takes a
 * chunk's worth from the start of the smallest segment big enough for it. CPU regions commit in 2 MiB
 * chunks (CpuSwapOptions.ChunkBytes), so nearly every segment fits every chunk. A chunk is filled by one move or
 * one fresh mapping, never pieced together, because mremap moves only a range inside one mapping: a chunk
 * made of pieces could not be moved back out whole. Segments start 2 MiB-aligned, as large allocations do
 * in the region (large_alignment), so that huge pages move as huge pages (the kernel moves a 2 MiB entry
 * only between addresses that are both 2 MiB-aligned; otherwise it splits the huge page first). */

struct mr_pool_segment {
    unsigned char * at;
    uint64_t        size;
};

static struct {
    pthread_mutex_t          lock;
    unsigned char *          base; /* reserved on the first keep; PROT_NONE where no segment lies */
    struct mr_pool_segment * segments;
    uint32_t                 count;
    uint32_t                 capacity;
    struct mr_cpu_page_pool_stats stats;
} mr_pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Puts an inaccessible, unbacked mapping over [at, at + size): the range stays ours and a read faults. */
static int mr_unback(void * at, uint64_t size) {
    return mmap(at, (size_t) size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED
        ? -1 : 0;
}

/* With the pool's lock held. Moves [at, at + size) of a region into the pool; 0 when it did (the region's range
 * is then unmapped: the caller maps it PROT_NONE), -1 when the pool is off, full or the move failed (nothing moved). */
static int mr_pool_keep_locked(unsigned char * at, uint64_t size) {
    struct mr_cpu_page_pool_stats * st = &mr_pool.stats;
    if (st->limit_bytes == 0 || st->committed_bytes + st->pooled_bytes + size > st->limit_bytes) {
        return -1;
    }
    if (mr_pool.base == NULL) {
        void * p = mmap(NULL, (size_t) MR_POOL_RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            return -1;
        }
        mr_pool.base = (unsigned char *) mr_region_round_up((uint64_t) (uintptr_t) p, MR_HUGE_PAGE);
    }
    if (mr_pool.count == mr_pool.capacity) {
        const uint32_t capacity = mr_pool.capacity == 0 ? 64 : mr_pool.capacity * 2;
        struct mr_pool_segment * grown = (struct mr_pool_segment *) realloc(mr_pool.segments, capacity * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        mr_pool.segments = grown;
        mr_pool.capacity = capacity;
    }
    const struct mr_pool_segment * top = mr_pool.count > 0 ? &mr_pool.segments[mr_pool.count - 1] : NULL;
    unsigned char * to = (unsigned char *) mr_region_round_up((uint64_t) (uintptr_t) (top != NULL ? top->at + top->size : mr_pool.base),
                                                              MR_HUGE_PAGE);
    if (to + size > mr_pool.base + MR_POOL_RESERVE - MR_HUGE_PAGE ||
        mremap(at, (size_t) size, (size_t) size, MREMAP_MAYMOVE | MREMAP_FIXED, to) == MAP_FAILED) {
        return -1;
    }
    mr_pool.segments[mr_pool.count++] = (struct mr_pool_segment) { to, size };
    st->pooled_bytes += size;
    st->kept_bytes += size;
    return 0;
}

/* With the pool's lock held. Moves `size` bytes of kept pages to [at, at + size); 0 when it did, -1 when no segment
 * holds that much (the caller maps fresh pages). */
static int mr_pool_take_locked(unsigned char * at, uint64_t size) {
    /* Best fit, topmost among equals: a model evicted and restored takes back segments of its own chunks' sizes,
     * whole, and small segments are not carved out of large ones while a small one fits. */
    uint32_t best = UINT32_MAX;
    for (uint32_t i = mr_pool.count; i-- > 0;) {
        const uint64_t fits = mr_pool.segments[i].size;
        if (fits >= size && (best == UINT32_MAX || fits < mr_pool.segments[best].size)) {
            best = i;
        }
    }
    if (best != UINT32_MAX) {
        const uint32_t i = best;
        struct mr_pool_segment * seg = &mr_pool.segments[i];
        if (mremap(seg->at, (size_t) size, (size_t) size, MREMAP_MAYMOVE | MREMAP_FIXED, at) == MAP_FAILED) {
            return -1;
        }
        (void) mr_unback(seg->at, size); /* keep the pool's range reserved; best effort, nothing is lost if not */
        seg->at += size;
        seg->size -= size;
        if (seg->size == 0) {
            memmove(seg, seg + 1, (size_t) (mr_pool.count - i - 1) * sizeof(*seg));
            mr_pool.count--;
        }
        mr_pool.stats.pooled_bytes -= size;
        mr_pool.stats.reused_bytes += size;
        return 0;
    }
    return -1;
}

/* With the pool's lock held: hands kept pages back to the kernel, topmost first, until the pool fits its limit. */
static void mr_pool_trim_locked(void) {
    struct mr_cpu_page_pool_stats * st = &mr_pool.stats;
    while (mr_pool.count > 0 && st->committed_bytes + st->pooled_bytes > st->limit_bytes) {
        const struct mr_pool_segment seg = mr_pool.segments[--mr_pool.count];
        (void) mr_unback(seg.at, seg.size);
        st->pooled_bytes -= seg.size;
        st->dropped_bytes += seg.size;
    }
}

/* With the pool's lock held: commits [at, at + size) read/write, from kept pages when a segment fits, else as fresh
 * pages (huge pages asked for), and counts it committed. 1: kept pages, 0: fresh ones, -1: mapping failed (errno). */
static int mr_pool_commit_locked(unsigned char * at, uint64_t size) {
    if (mr_pool_take_locked(at, size) == 0) {
        mr_pool.stats.committed_bytes += size;
        return 1;
    }
    if (mmap(at, (size_t) size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
        return -1;
    }
    /* Huge pages make the page faults 512x fewer; best effort (THP may be off). Kept pages carry the setting along. */
    (void) madvise(at, (size_t) size, MADV_HUGEPAGE);
    mr_pool.stats.fresh_bytes += size;
    mr_pool.stats.committed_bytes += size;
    return 0;
}

/* With the pool's lock held: [at, at + size) stops counting as committed, and its pages move into the pool where the
 * limit allows. 1: moved (the range is unmapped now); 0: not, counted as dropped (the caller's unmapping drops them). */
static int mr_pool_release_locked(unsigned char * at, uint64_t size) {
    mr_pool.stats.committed_bytes -= size; /* first: the limit weighs the kept pages against the others */
    if (mr_pool_keep_locked(at, size) == 0) {
        return 1;
    }
    mr_pool.stats.dropped_bytes += size;
    return 0;
}

/* Pooled buffers. A context created right after a swap (the pool freed the evicted models' contexts to make room)
 * would otherwise get fresh pages from malloc, and meet the same zeroing and reported-page faults as a restore did
 * (val-c's context: 21-48 ms on the development VM, docs/simulator.md). So while the pool is on, a CPU buffer of at
 * least 2 MiB allocated outside a region's load takes its own reserved range, filled 2 MiB at a time from kept
 * segments (fresh pages where none fits), and gives its pages back to the pool when freed. Each 2 MiB piece is one
 * mapping, so it moves back out whole. Counted in committed_bytes like a region's pages. */

struct mr_pooled_buffer {
    unsigned char *           base;
    uint64_t                  size;     /* page-rounded */
    void *                    reserved; /* the whole reservation, for munmap */
    uint64_t                  reserved_size;
    struct mr_pooled_buffer * next;
};

static struct mr_pooled_buffer * mr_pooled_buffers; /* under mr_pool.lock */

static void * mr_pooled_buffer_alloc(size_t size) {
    if (size < MR_HUGE_PAGE || !mr_hook_ok) {
        return NULL;
    }
    pthread_mutex_lock(&mr_pool.lock);
    const int on = mr_pool.stats.limit_bytes != 0;
    pthread_mutex_unlock(&mr_pool.lock);
    if (!on) {
        return NULL;
    }
    const uint64_t page = (uint64_t) sysconf(_SC_PAGESIZE);
    const uint64_t rounded = mr_region_round_up((uint64_t) size, page);
    const uint64_t span = rounded + MR_HUGE_PAGE;
    struct mr_pooled_buffer * b = (struct mr_pooled_buffer *) calloc(1, sizeof(*b));
    void * p = b != NULL ? mmap(NULL, (size_t) span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) : MAP_FAILED;
    if (p == MAP_FAILED) {
        free(b);
        return NULL; /* ggml's own allocation then: it says so if memory really ran out */
    }
    b->reserved = p;
    b->reserved_size = span;
    b->base = (unsigned char *) mr_region_round_up((uint64_t) (uintptr_t) p, MR_HUGE_PAGE);
    b->size = rounded;
    pthread_mutex_lock(&mr_pool.lock);
    for (uint64_t at = 0; at < rounded; at += MR_HUGE_PAGE) {
        const uint64_t piece = rounded - at < MR_HUGE_PAGE ? rounded - at : MR_HUGE_PAGE;
        if (mr_pool_commit_locked(b->base + at, piece) < 0) {
            /* Out of memory: hand back what was committed, as kept pages where they fit. */
            for (uint64_t back = 0; back < at; back += MR_HUGE_PAGE) {
                (void) mr_pool_release_locked(b->base + back, at - back < MR_HUGE_PAGE ? at - back : MR_HUGE_PAGE);
            }
            pthread_mutex_unlock(&mr_pool.lock);
            munmap(b->reserved, (size_t) b->reserved_size);
            free(b);
            return NULL;
        }
    }
    b->next = mr_pooled_buffers;
    mr_pooled_buffers = b;
    pthread_mutex_unlock(&mr_pool.lock);
    return b->base;
}

/* 1 when base was a pooled buffer (now freed: its pages kept where the limit allows), 0 otherwise. */
static int mr_pooled_buffer_free(void * base) {
    pthread_mutex_lock(&mr_pool.lock);
    struct mr_pooled_buffer * b = NULL;
    for (struct mr_pooled_buffer ** at = &mr_pooled_buffers; *at != NULL; at = &(*at)->next) {
        if ((*at)->base == base) {
            b = *at;
            *at = b->next;
            break;
        }
    }
    if (b == NULL) {
        pthread_mutex_unlock(&mr_pool.lock);
        return 0;
    }
    for (uint64_t at = 0; at < b->size; at += MR_HUGE_PAGE) {
        (void) mr_pool_release_locked(b->base + at, b->size - at < MR_HUGE_PAGE ? b->size - at : MR_HUGE_PAGE);
    }
    pthread_mutex_unlock(&mr_pool.lock);
    munmap(b->reserved, (size_t) b->reserved_size); /* what was not moved out goes back to the kernel */
    free(b);
    return 1;
}

enum mr_status mr_swap_cpu_page_pool_limit(uint64_t limit_bytes) {
    mr_clear_error();
    pthread_once(&mr_hook_once, mr_install_hook); /* contexts created before any region loads are pooled too */
    pthread_mutex_lock(&mr_pool.lock);
    mr_pool.stats.limit_bytes = limit_bytes;
    mr_pool_trim_locked();
    pthread_mutex_unlock(&mr_pool.lock);
    return MR_STATUS_OK;
}

enum mr_status mr_swap_cpu_page_pool_stats(struct mr_cpu_page_pool_stats * out) {
    mr_clear_error();
    if (out == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_cpu_page_pool_stats: out is required");
    }
    pthread_mutex_lock(&mr_pool.lock);
    *out = mr_pool.stats;
    pthread_mutex_unlock(&mr_pool.lock);
    return MR_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* the backend */

/* Map mode, once captured: the image's own pages at the chunk's addresses, read-only (nothing writes weights
 * after the load; a write would fault rather than change the image), populated now so that the first token
 * does not pay the page faults. Not MAP_PRIVATE with write access: populating that breaks copy-on-write on
 * every page, i.e. copies the whole image. */
static enum mr_status mr_cpu_map_image(struct mr_swap_region * r, struct mr_region_chunk * c) {
    void * p = mmap(r->base + c->offset, (size_t) c->size, PROT_READ, MAP_SHARED | MAP_FIXED | MAP_POPULATE,
                    r->image_fd, (off_t) c->offset);
    if (p == MAP_FAILED) {
        return mr_fail(errno == ENOMEM ? MR_STATUS_OUT_OF_MEMORY : MR_STATUS_SYSTEM_ERROR,
                       "CPU region: mapping %llu bytes of the image at offset %llu: %s", (unsigned long long) c->size,
                       (unsigned long long) c->offset, strerror(errno));
    }
    if (c->pooled) {
        /* The load's anonymous pages, just replaced by the image's (capture in map mode): gone, not kept. */
        pthread_mutex_lock(&mr_pool.lock);
        mr_pool.stats.committed_bytes -= c->size;
        mr_pool.stats.dropped_bytes += c->size;
        pthread_mutex_unlock(&mr_pool.lock);
        c->pooled = 0;
    }
    c->committed = 1;
    return MR_STATUS_OK;
}

static enum mr_status mr_cpu_commit(struct mr_swap_region * r, struct mr_region_chunk * c) {
    if (r->map_image && r->captured) {
        return mr_cpu_map_image(r, c);
    }
    pthread_mutex_lock(&mr_pool.lock);
    const int reused = mr_pool_commit_locked(r->base + c->offset, c->size);
    const int error = errno;
    pthread_mutex_unlock(&mr_pool.lock);
    if (reused < 0) {
        return mr_fail(error == ENOMEM ? MR_STATUS_OUT_OF_MEMORY : MR_STATUS_SYSTEM_ERROR,
                       "CPU region: committing %llu bytes at offset %llu: %s", (unsigned long long) c->size,
                       (unsigned long long) c->offset, strerror(error));
    }
    if (reused) {
        r->commit_reused_bytes += c->size;
    }
    c->committed = 1;
    c->pooled = 1;
    return MR_STATUS_OK;
}

static enum mr_status mr_cpu_release(struct mr_swap_region * r, struct mr_region_chunk * c) {
    if (!c->committed) {
        return MR_STATUS_OK;
    }
    int moved = 0;
    if (c->pooled) {
        pthread_mutex_lock(&mr_pool.lock);
        moved = mr_pool_release_locked(r->base + c->offset, c->size);
        pthread_mutex_unlock(&mr_pool.lock);
    }
    if (mr_unback(r->base + c->offset, c->size) != 0) {
        const int error = errno;
        if (moved) {
            /* The pages are in the pool already: the chunk is empty (a hole in the range), not committed. */
            c->committed = 0;
            c->pooled = 0;
        }
        return mr_fail(MR_STATUS_SYSTEM_ERROR, "CPU region: releasing %llu bytes at offset %llu: %s",
                       (unsigned long long) c->size, (unsigned long long) c->offset, strerror(error));
    }
    c->committed = 0;
    c->pooled = 0;
    return MR_STATUS_OK;
}

static enum mr_status mr_cpu_image_alloc(struct mr_swap_region * r, uint64_t size) {
    if (r->map_image) {
        /* A memfd, not a /dev/shm file: nothing to clean up after a crash, no name to collide. */
        int fd = memfd_create("mr_swap_image", MFD_CLOEXEC);
        if (fd < 0) {
            return mr_fail(MR_STATUS_SYSTEM_ERROR, "CPU region: memfd_create for the host image: %s", strerror(errno));
        }
        /* Reserve the pages now: a full tmpfs fails here, cleanly, instead of a SIGBUS later. */
        int rc = ftruncate(fd, (off_t) size) == 0 ? posix_fallocate(fd, 0, (off_t) size) : errno;
        void * p = rc == 0 ? mmap(NULL, (size_t) size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
        if (p == MAP_FAILED) {
            close(fd);
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "CPU region: no memory for a %llu-byte host image (memfd): %s",
                           (unsigned long long) size, strerror(rc != 0 ? rc : errno));
        }
        r->image = (unsigned char *) p;
        r->image_bytes = size;
        r->image_fd = fd;
        return MR_STATUS_OK;
    }
    void * p = mmap(NULL, (size_t) size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "CPU region: no memory for a %llu-byte host image: %s", (unsigned long long) size,
                       strerror(errno));
    }
    (void) madvise(p, (size_t) size, MADV_HUGEPAGE);
    r->image = (unsigned char *) p;
    r->image_bytes = size;
    return MR_STATUS_OK;
}

static void mr_cpu_image_free(struct mr_swap_region * r) {
    if (r->image != NULL) {
        munmap(r->image, (size_t) r->image_bytes);
    }
    if (r->image_fd >= 0) {
        close(r->image_fd);
    }
    r->image = NULL;
    r->image_bytes = 0;
    r->image_fd = -1;
}

struct mr_copy_job {
    struct mr_swap_region * r;
    enum mr_region_copy     direction;
    int                     index;
    int                     count;
};

static void * mr_copy_worker(void * arg) {
    const struct mr_copy_job * job = (const struct mr_copy_job *) arg;
    struct mr_swap_region * r = job->r;
    for (uint32_t i = (uint32_t) job->index; i < r->chunk_count; i += (uint32_t) job->count) {
        const struct mr_region_chunk * c = &r->chunks[i];
        if (job->direction == MR_REGION_FROM_IMAGE) {
            memcpy(r->base + c->offset, r->image + c->offset, (size_t) c->size);
        } else {
            memcpy(r->image + c->offset, r->base + c->offset, (size_t) c->size);
        }
    }
    return NULL;
}

static enum mr_status mr_cpu_copy_threads(struct mr_swap_region * r, enum mr_region_copy direction);

static enum mr_status mr_cpu_copy(struct mr_swap_region * r, enum mr_region_copy direction) {
    if (!r->map_image) {
        return mr_cpu_copy_threads(r, direction);
    }
    if (direction == MR_REGION_FROM_IMAGE) {
        return MR_STATUS_OK; /* commit mapped the image's pages already */
    }
    enum mr_status st = mr_cpu_copy_threads(r, direction);
    /* From now on the weights ARE the image's pages: swap the load's anonymous copy for them (resident costs
     * the weights once). r->captured is still 0 here, so map explicitly. */
    for (uint32_t i = 0; i < r->chunk_count && st == MR_STATUS_OK; i++) {
        st = mr_cpu_map_image(r, &r->chunks[i]);
    }
    return st;
}

static enum mr_status mr_cpu_copy_threads(struct mr_swap_region * r, enum mr_region_copy direction) {
    int count = r->threads < (int) r->chunk_count ? r->threads : (int) r->chunk_count;
    if (count < 1) {
        count = 1;
    }
    struct mr_copy_job jobs[MR_MAX_CPU_THREADS];
    pthread_t threads[MR_MAX_CPU_THREADS];
    int started = 0;
    for (int t = 1; t < count; t++) {
        jobs[t] = (struct mr_copy_job) { r, direction, t, count };
        if (pthread_create(&threads[t], NULL, mr_copy_worker, &jobs[t]) != 0) {
            break; /* fewer threads: this one takes over the rest below */
        }
        started = t;
    }
    if (started + 1 < count) {
        /* Not every thread started: copy the indices of the missing ones here, single-threaded. */
        for (int t = started + 1; t < count; t++) {
            jobs[t] = (struct mr_copy_job) { r, direction, t, count };
            mr_copy_worker(&jobs[t]);
        }
    }
    jobs[0] = (struct mr_copy_job) { r, direction, 0, count };
    mr_copy_worker(&jobs[0]);
    for (int t = 1; t <= started; t++) {
        pthread_join(threads[t], NULL);
    }
    return MR_STATUS_OK;
}

static enum mr_status mr_cpu_mismatches(struct mr_swap_region * r, uint64_t * out) {
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        const struct mr_region_chunk * c = &r->chunks[i];
        if (memcmp(r->base + c->offset, r->image + c->offset, (size_t) c->size) != 0) {
            for (uint64_t k = 0; k < c->size; k++) {
                *out += r->base[c->offset + k] != r->image[c->offset + k];
            }
        }
    }
    return MR_STATUS_OK;
}

static void mr_cpu_free_backend(struct mr_swap_region * r) {
    pthread_mutex_lock(&mr_registry_lock);
    for (struct mr_swap_region ** at = &mr_registry; *at != NULL; at = &(*at)->next) {
        if (*at == r) {
            *at = r->next;
            break;
        }
    }
    pthread_mutex_unlock(&mr_registry_lock);
    if (r->base != NULL) {
        munmap(r->base, (size_t) r->reserved);
    }
}

static const struct mr_region_ops mr_cpu_ops = {
    .name = "CPU",
    .commit = mr_cpu_commit,
    .release = mr_cpu_release,
    .image_alloc = mr_cpu_image_alloc,
    .image_free = mr_cpu_image_free,
    .copy = mr_cpu_copy,
    .mismatches = mr_cpu_mismatches,
    .free_backend = mr_cpu_free_backend,
    /* No optional hooks: memory is the process's own, nothing to enter, sync or drain. */
};

/* ------------------------------------------------------------------------------------------------ */
/* the API */

enum mr_status mr_swap_region_create_cpu(const struct mr_cpu_swap_options * options, struct mr_swap_region ** out) {
    mr_clear_error();
    if (options == NULL || out == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_create_cpu: options and out are required");
    }
    *out = NULL;
    pthread_once(&mr_hook_once, mr_install_hook);
    if (!mr_hook_ok) {
        return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_create_cpu: ggml's CPU buffer type could not be hooked (a probe allocation failed)");
    }
    const long page = sysconf(_SC_PAGESIZE);
    struct mr_swap_region * r = (struct mr_swap_region *) calloc(1, sizeof(*r));
    if (r == NULL) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no host memory for a swap region");
    }
    int threads = options->threads < 1 ? MR_DEFAULT_CPU_THREADS : options->threads;
    threads = threads > MR_MAX_CPU_THREADS ? MR_MAX_CPU_THREADS : threads;
    mr_region_init(r, &mr_cpu_ops, (uint64_t) (page > 0 ? page : 4096), options->chunk_bytes,
                   options->reserve_bytes != 0 ? options->reserve_bytes : MR_DEFAULT_CPU_RESERVE, threads);
    r->map_image = options->map_image != 0;
    r->image_fd = -1;
    r->large_alignment = MR_HUGE_PAGE;
    /* Reserve one huge page more and start on a huge-page boundary, so committed chunks can be THP-backed. */
    const size_t span = (size_t) (r->reserved + MR_HUGE_PAGE);
    void * p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        enum mr_status st = mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_swap_region_create_cpu: reserving %llu bytes of address space: %s",
                                    (unsigned long long) r->reserved, strerror(errno));
        pthread_mutex_destroy(&r->lock);
        free(r);
        return st;
    }
    unsigned char * aligned = (unsigned char *) mr_region_round_up((uint64_t) (uintptr_t) p, MR_HUGE_PAGE);
    const size_t head = (size_t) (aligned - (unsigned char *) p);
    if (head > 0) {
        munmap(p, head);
    }
    if (MR_HUGE_PAGE - head > 0) {
        munmap(aligned + r->reserved, (size_t) (MR_HUGE_PAGE - head));
    }
    r->base = aligned;
    pthread_mutex_lock(&mr_registry_lock);
    r->next = mr_registry;
    mr_registry = r;
    pthread_mutex_unlock(&mr_registry_lock);
    *out = r;
    return MR_STATUS_OK;
}

enum mr_status mr_swap_region_load_begin(struct mr_swap_region * r) {
    mr_clear_error();
    if (r == NULL || r->ops != &mr_cpu_ops) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_load_begin: needs a CPU region");
    }
    if (mr_loading != NULL) {
        return mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_load_begin: this thread is already loading into a region");
    }
    pthread_mutex_lock(&r->lock);
    const int fresh = r->state == MR_SWAP_EMPTY || (r->state == MR_SWAP_RESIDENT && !r->captured);
    pthread_mutex_unlock(&r->lock);
    if (!fresh) {
        return mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_load_begin: the region was captured already (one load per region)");
    }
    mr_loading = r;
    return MR_STATUS_OK;
}

enum mr_status mr_swap_region_load_end(struct mr_swap_region * r) {
    mr_clear_error();
    if (r == NULL || mr_loading != r) {
        return mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_load_end: this thread is not loading into this region");
    }
    mr_loading = NULL;
    return MR_STATUS_OK;
}
