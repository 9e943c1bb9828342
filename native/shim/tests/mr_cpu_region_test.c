/* mr_cpu_region_test: the CPU swap region end to end without a model (CPU builds on Linux; run by
 * ./build.sh test). Built from the region's sources, so it can inject a failed commit through mr_region.h.
 *
 * In both restore modes (copying the image back, mapping it), allocates buffers through ggml's CPU buffer type (and the CPU repack buffer type when this CPU has
 * one) between load_begin and load_end, fills them, captures, evicts (the pages must be gone: mincore
 * and the process's RSS; a read must fault), restores (bytes equal), checks the state machine's
 * refusals and that a restore whose commit fails leaves the region evicted with nothing mapped.
 * Exit codes: 0 every check passed, 1 a check failed. */
#define _GNU_SOURCE
#include "mr_region.h"

#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int g_failed;
static int g_passed;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (cond) {                                                       \
            g_passed++;                                                   \
        } else {                                                          \
            g_failed++;                                                   \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, " (last error: %s)\n", mr_last_error());      \
        }                                                                 \
    } while (0)

static uint64_t resident_bytes(void) {
    FILE * f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f != NULL) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return resident * (uint64_t) sysconf(_SC_PAGESIZE);
}

/* Pages of [p, p + size) in memory, by mincore. */
static uint64_t resident_pages(const void * p, uint64_t size) {
    const uint64_t page = (uint64_t) sysconf(_SC_PAGESIZE);
    const uint64_t pages = (size + page - 1) / page;
    unsigned char * vec = (unsigned char *) malloc(pages);
    uint64_t count = 0;
    if (vec != NULL && mincore((void *) p, (size_t) (pages * page), vec) == 0) {
        for (uint64_t i = 0; i < pages; i++) {
            count += vec[i] & 1;
        }
    }
    free(vec);
    return count;
}

static unsigned char pattern(uint64_t i, int buffer) {
    return (unsigned char) ((i * 2654435761u) >> 13) ^ (unsigned char) (buffer * 37 + 1);
}

static void fill(ggml_backend_buffer_t b, int index) {
    unsigned char * p = (unsigned char *) ggml_backend_buffer_get_base(b);
    const size_t n = ggml_backend_buffer_get_size(b);
    for (size_t i = 0; i < n; i++) {
        p[i] = pattern(i, index);
    }
}

static uint64_t differing(ggml_backend_buffer_t b, int index) {
    const unsigned char * p = (const unsigned char *) ggml_backend_buffer_get_base(b);
    const size_t n = ggml_backend_buffer_get_size(b);
    uint64_t d = 0;
    for (size_t i = 0; i < n; i++) {
        d += p[i] != pattern(i, index);
    }
    return d;
}

static int inside(const struct mr_swap_region * r, const void * p) {
    return (const unsigned char *) p >= r->base && (const unsigned char *) p < r->base + r->reserved;
}

static void * other_thread_alloc(void * arg) {
    ggml_backend_buffer_t * out = (ggml_backend_buffer_t *) arg;
    *out = ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), 1 << 20);
    return NULL;
}

/* A read of evicted weights must fault (as a kernel on unmapped VRAM does), never return zeros. */
static int read_faults(const volatile unsigned char * p) {
    pid_t child = fork();
    if (child == 0) {
        volatile unsigned char v = *p;
        (void) v;
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
}

#define NBUF 4

/* One full run in a restore mode: 0 copies the image back, 1 maps it. */
static void run(int map_image) {
    printf("--- restore by %s\n", map_image ? "mapping the image (memfd)" : "copying the image");
    struct mr_cpu_swap_options options = { .reserve_bytes = 1ull << 30, .chunk_bytes = 4ull << 20, .threads = 3, .map_image = map_image };
    struct mr_swap_region * r = NULL;
    CHECK(mr_swap_region_create_cpu(&options, &r) == MR_STATUS_OK && r != NULL, "create");
    if (r == NULL) {
        return;
    }

    /* Refusals before anything was loaded. */
    CHECK(mr_swap_region_evict(r) == MR_STATUS_INVALID_STATE, "evict of an empty region");
    CHECK(mr_swap_region_restore(r) == MR_STATUS_INVALID_STATE, "restore of an empty region");
    CHECK(mr_swap_region_capture(r) == MR_STATUS_INVALID_STATE, "capture of an empty region");
    CHECK(mr_swap_region_load_end(r) == MR_STATUS_INVALID_STATE, "load_end without load_begin");

    /* The load: plain CPU buffers, and a repack buffer where this CPU has the repack buffer type. */
    const size_t sizes[NBUF] = { (10u << 20) + 123, 7u << 20, 300u << 10, 5u << 20 };
    ggml_backend_buffer_t buffers[NBUF] = { NULL };
    ggml_backend_buffer_type_t repack = NULL;
    ggml_backend_dev_t cpu_dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (cpu_dev != NULL) {
        ggml_backend_dev_get_extra_bufts_t get_extra = (ggml_backend_dev_get_extra_bufts_t)
            ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(cpu_dev), "ggml_backend_dev_get_extra_bufts");
        ggml_backend_buffer_type_t * extra = get_extra != NULL ? get_extra(cpu_dev) : NULL;
        for (; extra != NULL && *extra != NULL; extra++) {
            if (strstr(ggml_backend_buft_name(*extra), "REPACK") != NULL) {
                repack = *extra;
            }
        }
    }
    CHECK(mr_swap_region_load_begin(r) == MR_STATUS_OK, "load_begin");
    CHECK(mr_swap_region_load_begin(r) == MR_STATUS_INVALID_STATE, "a second load_begin on the same thread");
    for (int i = 0; i < NBUF; i++) {
        ggml_backend_buffer_type_t buft = i == NBUF - 1 && repack != NULL ? repack : ggml_backend_cpu_buffer_type();
        buffers[i] = ggml_backend_buft_alloc_buffer(buft, sizes[i]);
        CHECK(buffers[i] != NULL && inside(r, ggml_backend_buffer_get_base(buffers[i])), "buffer %d comes from the region", i);
        CHECK(buffers[i] != NULL && ggml_backend_buffer_get_type(buffers[i]) == buft, "buffer %d reports the real buffer type", i);
    }
    ggml_backend_buffer_t other = NULL;
    pthread_t thread;
    pthread_create(&thread, NULL, other_thread_alloc, &other);
    pthread_join(thread, NULL);
    CHECK(other != NULL && !inside(r, ggml_backend_buffer_get_base(other)), "another thread's allocation during the load is ggml's own");
    ggml_backend_buffer_free(other);
    CHECK(mr_swap_region_load_end(r) == MR_STATUS_OK, "load_end");
    ggml_backend_buffer_t after = ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), 1 << 20);
    CHECK(after != NULL && !inside(r, ggml_backend_buffer_get_base(after)), "an allocation after load_end is ggml's own");
    ggml_backend_buffer_free(after);
    printf("repack buffer type: %s\n", repack != NULL ? ggml_backend_buft_name(repack) : "(none on this CPU)");

    for (int i = 0; i < NBUF; i++) {
        fill(buffers[i], i);
    }
    struct mr_swap_stats stats;
    CHECK(mr_swap_region_stats(r, &stats) == MR_STATUS_OK && stats.state == MR_SWAP_RESIDENT, "resident after the load");
    /* expected: the bytes committed; layout_end: where the last allocation ends, a large one (>= 2 MiB) starting
     * on a 2 MiB boundary so that its pages can be huge pages. */
    uint64_t expected = 0;
    uint64_t layout_end = 0;
    for (int i = 0; i < NBUF; i++) {
        const uint64_t aligned = mr_region_round_up(sizes[i], stats.granularity_bytes);
        const uint64_t start = aligned >= (2u << 20) ? mr_region_round_up(layout_end, 2u << 20) : layout_end;
        CHECK((const unsigned char *) ggml_backend_buffer_get_base(buffers[i]) == r->base + start,
              "buffer %d starts at offset %llu", i, (unsigned long long) start);
        expected += aligned;
        layout_end = start + aligned;
    }
    CHECK(stats.weight_bytes == layout_end, "weight_bytes %llu == %llu", (unsigned long long) stats.weight_bytes, (unsigned long long) layout_end);
    CHECK(stats.buffer_count == NBUF, "buffer_count %u", stats.buffer_count);

    CHECK(mr_swap_region_evict(r) == MR_STATUS_INVALID_STATE, "evict before capture");
    CHECK(mr_swap_region_capture(r) == MR_STATUS_OK, "capture");
    CHECK(mr_swap_region_capture(r) == MR_STATUS_INVALID_STATE, "a second capture");
    CHECK(mr_swap_region_load_begin(r) == MR_STATUS_INVALID_STATE, "load_begin after capture");
    ggml_backend_buffer_t own = ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), 4096);
    CHECK(own != NULL && !inside(r, ggml_backend_buffer_get_base(own)), "after capture this thread allocates from ggml again");
    ggml_backend_buffer_free(own);

    for (int cycle = 0; cycle < 3; cycle++) {
        const uint64_t rss_before = resident_bytes();
        CHECK(mr_swap_region_evict(r) == MR_STATUS_OK, "evict, cycle %d", cycle);
        const uint64_t rss_evicted = resident_bytes();
        CHECK(mr_swap_region_evict(r) == MR_STATUS_OK, "a second evict is a no-op, cycle %d", cycle);
        uint64_t pages = 0;
        for (int i = 0; i < NBUF; i++) {
            pages += resident_pages(ggml_backend_buffer_get_base(buffers[i]), ggml_backend_buffer_get_size(buffers[i]));
        }
        CHECK(pages == 0, "no page of the weights stays resident after evict (%llu do), cycle %d", (unsigned long long) pages, cycle);
        /* The process's RSS falls by at least 90% of the weights (other threads may allocate meanwhile). */
        CHECK(rss_before > rss_evicted && rss_before - rss_evicted >= expected / 10 * 9,
              "RSS drops by the weights: %llu -> %llu (weights %llu), cycle %d", (unsigned long long) rss_before,
              (unsigned long long) rss_evicted, (unsigned long long) expected, cycle);
        CHECK(read_faults((const unsigned char *) ggml_backend_buffer_get_base(buffers[0]) + 100), "a read of evicted weights faults, cycle %d", cycle);
        CHECK(mr_swap_region_stats(r, &stats) == MR_STATUS_OK && stats.state == MR_SWAP_EVICTED, "evicted state, cycle %d", cycle);

        CHECK(mr_swap_region_restore(r) == MR_STATUS_OK, "restore, cycle %d", cycle);
        const uint64_t rss_restored = resident_bytes();
        CHECK(rss_restored >= rss_evicted + expected / 10 * 9, "RSS comes back: %llu -> %llu, cycle %d",
              (unsigned long long) rss_evicted, (unsigned long long) rss_restored, cycle);
        CHECK(mr_swap_region_restore(r) == MR_STATUS_OK, "a second restore is a no-op, cycle %d", cycle);
        for (int i = 0; i < NBUF; i++) {
            CHECK(differing(buffers[i], i) == 0, "buffer %d bit-exact after restore, cycle %d", i, cycle);
        }
        uint64_t mismatched = 1;
        CHECK(mr_swap_region_verify(r, &mismatched) == MR_STATUS_OK && mismatched == 0, "verify, cycle %d", cycle);
        CHECK(mr_swap_region_stats(r, &stats) == MR_STATUS_OK && stats.restore_count == (uint32_t) cycle + 1, "restore_count, cycle %d", cycle);
        printf("cycle %d: evict %.2f ms, restore %.2f ms (%.2f GB/s), RSS %llu -> %llu -> %llu bytes\n", cycle, stats.last_evict_ms,
               stats.last_restore_ms, (double) expected / (stats.last_restore_ms * 1e6), (unsigned long long) rss_before,
               (unsigned long long) rss_evicted, (unsigned long long) rss_restored);
    }

    /* A restore whose third commit fails: error, still evicted, nothing committed; the next restore works. */
    CHECK(mr_swap_region_evict(r) == MR_STATUS_OK, "evict before the failing restore");
    r->fail_commit_in = 3;
    CHECK(mr_swap_region_restore(r) == MR_STATUS_OUT_OF_MEMORY, "the failing restore reports running out of memory");
    CHECK(strstr(mr_last_error(), "still evicted") != NULL, "its error says the region is still evicted: %s", mr_last_error());
    CHECK(mr_swap_region_stats(r, &stats) == MR_STATUS_OK && stats.state == MR_SWAP_EVICTED, "state stays evicted");
    uint32_t committed = 0;
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        committed += (uint32_t) r->chunks[i].committed;
    }
    CHECK(committed == 0, "no chunk stays committed (%u do)", committed);
    CHECK(resident_pages(r->base, r->used) == 0, "no page stays resident");
    CHECK(mr_swap_region_restore(r) == MR_STATUS_OK, "the next restore works");
    for (int i = 0; i < NBUF; i++) {
        CHECK(differing(buffers[i], i) == 0, "buffer %d bit-exact after the retried restore", i);
    }

    /* Destroy before the buffers are freed (as llama_model_free may come last): freed with the last buffer. */
    mr_swap_region_destroy(r);
    for (int i = 0; i < NBUF; i++) {
        ggml_backend_buffer_free(buffers[i]);
    }

}

static uint64_t pool_stat(size_t field) {
    struct mr_cpu_page_pool_stats st;
    if (mr_swap_cpu_page_pool_stats(&st) != MR_STATUS_OK) {
        return UINT64_MAX;
    }
    return *(const uint64_t *) ((const unsigned char *) &st + field);
}
#define POOL(f) pool_stat(offsetof(struct mr_cpu_page_pool_stats, f))

/* One region loaded with NBUF buffers of sizes[] (filled with their patterns) and captured; NULL on failure. */
static struct mr_swap_region * loaded_region(const size_t * sizes, ggml_backend_buffer_t * buffers, int salt) {
    struct mr_cpu_swap_options options = { .reserve_bytes = 1ull << 30, .chunk_bytes = 4ull << 20, .threads = 2 };
    struct mr_swap_region * r = NULL;
    if (mr_swap_region_create_cpu(&options, &r) != MR_STATUS_OK || mr_swap_region_load_begin(r) != MR_STATUS_OK) {
        return NULL;
    }
    for (int i = 0; i < NBUF; i++) {
        buffers[i] = ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), sizes[i]);
    }
    mr_swap_region_load_end(r);
    for (int i = 0; i < NBUF; i++) {
        if (buffers[i] == NULL) {
            return NULL;
        }
        fill(buffers[i], i + salt);
    }
    return mr_swap_region_capture(r) == MR_STATUS_OK ? r : NULL;
}

static void free_region(struct mr_swap_region * r, ggml_backend_buffer_t * buffers) {
    mr_swap_region_destroy(r);
    for (int i = 0; i < NBUF; i++) {
        ggml_backend_buffer_free(buffers[i]);
    }
}

/* The page pool: evict keeps the pages (moved out of the region's range, which still faults), restore and another
 * region's load take them back without a fresh page, the limit holds, and a limit of 0 hands everything back. */
static void run_pool(void) {
    printf("--- the page pool\n");
    const size_t sizes[NBUF] = { (10u << 20) + 123, 7u << 20, 300u << 10, 5u << 20 };
    uint64_t weights = 0;
    for (int i = 0; i < NBUF; i++) {
        weights += mr_region_round_up(sizes[i], (uint64_t) sysconf(_SC_PAGESIZE));
    }
    CHECK(mr_swap_cpu_page_pool_limit(64ull << 20) == MR_STATUS_OK, "pool limit 64 MiB");
    ggml_backend_buffer_t a_buffers[NBUF] = { NULL };
    struct mr_swap_region * a = loaded_region(sizes, a_buffers, 0);
    CHECK(a != NULL, "region a loaded and captured");
    if (a == NULL) {
        return;
    }
    CHECK(POOL(committed_bytes) == weights && POOL(pooled_bytes) == 0, "a's pages are committed: %llu of %llu, pooled %llu",
          (unsigned long long) POOL(committed_bytes), (unsigned long long) weights, (unsigned long long) POOL(pooled_bytes));

    for (int cycle = 0; cycle < 3; cycle++) {
        const uint64_t fresh = POOL(fresh_bytes);
        CHECK(mr_swap_region_evict(a) == MR_STATUS_OK, "evict a, cycle %d", cycle);
        CHECK(POOL(pooled_bytes) == weights && POOL(committed_bytes) == 0, "evict kept every page: pooled %llu, cycle %d",
              (unsigned long long) POOL(pooled_bytes), cycle);
        uint64_t pages = 0;
        for (int i = 0; i < NBUF; i++) {
            pages += resident_pages(ggml_backend_buffer_get_base(a_buffers[i]), ggml_backend_buffer_get_size(a_buffers[i]));
        }
        CHECK(pages == 0, "no page stays at the region's addresses (%llu do), cycle %d", (unsigned long long) pages, cycle);
        CHECK(read_faults((const unsigned char *) ggml_backend_buffer_get_base(a_buffers[1]) + 100), "a read of evicted weights faults, cycle %d", cycle);
        CHECK(mr_swap_region_restore(a) == MR_STATUS_OK, "restore a, cycle %d", cycle);
        struct mr_swap_stats stats;
        CHECK(mr_swap_region_stats(a, &stats) == MR_STATUS_OK && stats.last_restore_reused_bytes == weights,
              "restore took every page from the pool: %llu of %llu, cycle %d", (unsigned long long) stats.last_restore_reused_bytes,
              (unsigned long long) weights, cycle);
        CHECK(POOL(fresh_bytes) == fresh && POOL(pooled_bytes) == 0, "and none fresh, cycle %d", cycle);
        for (int i = 0; i < NBUF; i++) {
            CHECK(differing(a_buffers[i], i) == 0, "a's buffer %d bit-exact after a pooled restore, cycle %d", i, cycle);
        }
        printf("pooled cycle %d: restore %.2f ms (commit %.2f ms)\n", cycle, stats.last_restore_ms, stats.last_restore_commit_ms);
    }

    /* Another model's load takes a's kept pages, and a's restore then fits what the limit leaves. */
    CHECK(mr_swap_region_evict(a) == MR_STATUS_OK, "evict a for b");
    const uint64_t reused = POOL(reused_bytes);
    ggml_backend_buffer_t b_buffers[NBUF] = { NULL };
    struct mr_swap_region * b = loaded_region(sizes, b_buffers, 7);
    CHECK(b != NULL, "region b loaded and captured");
    CHECK(POOL(reused_bytes) - reused == weights, "b's load took a's pages: %llu of %llu", (unsigned long long) (POOL(reused_bytes) - reused),
          (unsigned long long) weights);
    for (int i = 0; b != NULL && i < NBUF; i++) {
        CHECK(differing(b_buffers[i], i + 7) == 0, "b's buffer %d holds b's bytes", i);
    }

    /* A limit under both: evict keeps only what fits beside what is committed. */
    CHECK(mr_swap_cpu_page_pool_limit(weights + weights / 2) == MR_STATUS_OK, "limit 1.5x one model");
    CHECK(mr_swap_region_restore(a) == MR_STATUS_OK, "restore a beside b");
    CHECK(mr_swap_region_evict(b) == MR_STATUS_OK, "evict b");
    CHECK(POOL(committed_bytes) + POOL(pooled_bytes) <= weights + weights / 2, "the pool keeps within its limit: %llu + %llu",
          (unsigned long long) POOL(committed_bytes), (unsigned long long) POOL(pooled_bytes));
    CHECK(POOL(pooled_bytes) > 0, "and keeps some");
    CHECK(mr_swap_region_restore(b) == MR_STATUS_OK, "restore b");
    for (int i = 0; b != NULL && i < NBUF; i++) {
        CHECK(differing(b_buffers[i], i + 7) == 0, "b's buffer %d bit-exact after a partly pooled restore", i);
        CHECK(differing(a_buffers[i], i) == 0, "a's buffer %d untouched", i);
    }

    /* A context-sized buffer outside a load (a KV cache, a compute buffer) takes kept pages too, and gives them back. */
    CHECK(mr_swap_region_evict(a) == MR_STATUS_OK, "evict a: some of its pages kept");
    const uint64_t kept = POOL(pooled_bytes);
    const uint64_t reused_before = POOL(reused_bytes);
    const uint64_t committed_before = POOL(committed_bytes);
    CHECK(kept >= (3u << 20), "the pool holds at least 3 MiB: %llu", (unsigned long long) kept);
    ggml_backend_buffer_t context = ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), 3u << 20);
    unsigned char * at = context != NULL ? (unsigned char *) ggml_backend_buffer_get_base(context) : NULL;
    CHECK(at != NULL && !inside(a, at) && (b == NULL || !inside(b, at)), "a context buffer, outside every region");
    CHECK(POOL(reused_bytes) - reused_before == (3u << 20) && POOL(committed_bytes) - committed_before == (3u << 20),
          "its 3 MiB came from the pool: reused +%llu, committed +%llu", (unsigned long long) (POOL(reused_bytes) - reused_before),
          (unsigned long long) (POOL(committed_bytes) - committed_before));
    if (at != NULL) {
        memset(at, 0x5a, 3u << 20);
        ggml_backend_buffer_free(context);
    }
    CHECK(POOL(pooled_bytes) == kept && POOL(committed_bytes) == committed_before, "freed, its pages are kept again: %llu of %llu",
          (unsigned long long) POOL(pooled_bytes), (unsigned long long) kept);
    CHECK(mr_swap_region_restore(a) == MR_STATUS_OK, "restore a after the context buffer");
    for (int i = 0; i < NBUF; i++) {
        CHECK(differing(a_buffers[i], i) == 0, "a's buffer %d bit-exact after its pages served a context buffer", i);
    }

    /* Off: everything kept goes back, and evict drops pages as before. */
    CHECK(mr_swap_region_evict(a) == MR_STATUS_OK && mr_swap_region_evict(b) == MR_STATUS_OK, "evict both");
    const uint64_t rss_pooled = resident_bytes();
    CHECK(mr_swap_cpu_page_pool_limit(0) == MR_STATUS_OK && POOL(pooled_bytes) == 0, "limit 0 empties the pool");
    CHECK(rss_pooled - resident_bytes() >= weights / 10 * 9, "and RSS falls by the pages it held: %llu -> %llu",
          (unsigned long long) rss_pooled, (unsigned long long) resident_bytes());
    free_region(a, a_buffers);
    if (b != NULL) {
        free_region(b, b_buffers);
    }
    CHECK(POOL(committed_bytes) == 0 && POOL(pooled_bytes) == 0, "nothing committed or kept after both are destroyed");
}

int main(void) {
    ggml_backend_load_all();
    run(0);
    run(1);
    run_pool();
    printf("mr_cpu_region_test: %d checks passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
