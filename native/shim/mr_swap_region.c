/* The backend-neutral swap region (see mr_region.h): the public capture/evict/restore/verify/stats/destroy
 * calls, the chunk table and the rollback rules. Built with the CPU backend (mr_swap_cpu.c, CPU builds on
 * Linux) and with the CUDA backend (mr_swap_cuda.c, CUDA builds on Linux): no CUDA header here. */
#define _GNU_SOURCE
#include "mr_region.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double mr_region_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

void mr_region_init(struct mr_swap_region * r, const struct mr_region_ops * ops, uint64_t granularity,
                    uint64_t chunk_bytes, uint64_t reserved, int threads) {
    r->ops = ops;
    r->granularity = granularity;
    r->chunk_bytes = mr_region_round_up(chunk_bytes != 0 ? chunk_bytes : MR_DEFAULT_CHUNK_BYTES, granularity);
    r->reserved = mr_region_round_up(reserved, granularity);
    r->threads = threads;
    r->state = MR_SWAP_EMPTY;
    r->layout_hash = mr_region_fnv_mix(mr_region_fnv_mix(MR_FNV_OFFSET, r->granularity), r->chunk_bytes);
    pthread_mutex_init(&r->lock, NULL);
}

static enum mr_status mr_region_commit(struct mr_swap_region * r, struct mr_region_chunk * c) {
    if (r->fail_commit_in != 0 && --r->fail_commit_in == 0) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "%s region: committing %llu bytes at offset %llu failed (injected by a test)",
                       r->ops->name, (unsigned long long) c->size, (unsigned long long) c->offset);
    }
    return r->ops->commit(r, c);
}

/* Releases chunks [first, end), keeping the error text and status of the failure that caused it. */
static void mr_region_rollback(struct mr_swap_region * r, uint32_t first, uint32_t end) {
    char cause[512];
    snprintf(cause, sizeof(cause), "%s", mr_last_error());
    const enum mr_status status = mr_last_status();
    if (r->ops->drain != NULL) {
        r->ops->drain(r);
    }
    for (uint32_t i = first; i < end; i++) {
        if (r->chunks[i].committed) {
            r->ops->release(r, &r->chunks[i]);
        }
    }
    mr_fail(status, "%s", cause);
}

static enum mr_status mr_region_enter(struct mr_swap_region * r) {
    return r->ops->enter != NULL ? r->ops->enter(r) : MR_STATUS_OK;
}

enum mr_status mr_region_allocate(struct mr_swap_region * r, uint64_t size, uint64_t * offset) {
    const uint64_t aligned = mr_region_round_up(size == 0 ? 1 : size, r->granularity);
    if (r->state == MR_SWAP_EVICTED || r->captured) {
        return mr_fail(MR_STATUS_INVALID_STATE, "%s region: cannot allocate %llu bytes: the region is %s", r->ops->name,
                       (unsigned long long) size,
                       r->state == MR_SWAP_EVICTED ? "evicted" : "already captured (allocate everything before capture)");
    }
    const uint64_t start = r->large_alignment != 0 && aligned >= r->large_alignment
        ? mr_region_round_up(r->used, r->large_alignment)
        : r->used;
    if (start + aligned > r->reserved) {
        return mr_fail(MR_STATUS_OUT_OF_RANGE, "%s region: %llu more bytes exceed the reserved range (%llu of %llu used); raise reserve_bytes",
                       r->ops->name, (unsigned long long) size, (unsigned long long) r->used, (unsigned long long) r->reserved);
    }
    enum mr_status entered = mr_region_enter(r);
    if (entered != MR_STATUS_OK) {
        return entered;
    }
    const uint32_t needed = (uint32_t) ((aligned + r->chunk_bytes - 1) / r->chunk_bytes);
    if (r->chunk_count + needed > r->chunk_capacity) {
        uint32_t capacity = r->chunk_capacity == 0 ? 64 : r->chunk_capacity;
        while (capacity < r->chunk_count + needed) {
            capacity *= 2;
        }
        struct mr_region_chunk * grown = (struct mr_region_chunk *) realloc(r->chunks, capacity * sizeof(struct mr_region_chunk));
        if (grown == NULL) {
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "%s region: no host memory for the chunk table", r->ops->name);
        }
        r->chunks = grown;
        r->chunk_capacity = capacity;
    }
    const uint32_t first = r->chunk_count;
    for (uint64_t at = start; at < start + aligned; at += r->chunk_bytes) {
        struct mr_region_chunk * c = &r->chunks[r->chunk_count];
        c->offset = at;
        c->size = start + aligned - at < r->chunk_bytes ? start + aligned - at : r->chunk_bytes;
        c->committed = 0;
        c->pooled = 0;
        enum mr_status st = mr_region_commit(r, c);
        if (st != MR_STATUS_OK) {
            mr_region_rollback(r, first, r->chunk_count);
            r->chunk_count = first;
            return st;
        }
        r->chunk_count++;
    }
    r->used = start + aligned;
    r->layout_hash = mr_region_fnv_mix(r->layout_hash, size);
    r->live_buffers++;
    r->state = MR_SWAP_RESIDENT;
    *offset = start;
    return MR_STATUS_OK;
}

enum mr_status mr_swap_region_capture(struct mr_swap_region * r) {
    mr_clear_error();
    if (r == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_capture: region is NULL");
    }
    pthread_mutex_lock(&r->lock);
    const double start = mr_region_now_ms();
    enum mr_status st = MR_STATUS_OK;
    if (r->state != MR_SWAP_RESIDENT || r->used == 0) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_capture: the region holds no resident weights (load the model through it first)");
        goto done;
    }
    if (r->captured && !r->ops->recapture) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_capture: already captured (the image is taken once, right after the load)");
        goto done;
    }
    st = mr_region_enter(r);
    if (st != MR_STATUS_OK) {
        goto done;
    }
    if (r->ops->quiesce != NULL) {
        /* CUDA: the loader's uploads ran on ggml's streams: wait for all of them. */
        st = r->ops->quiesce(r, "mr_swap_region_capture");
        if (st != MR_STATUS_OK) {
            goto done;
        }
    }
    int handled = 0;
    if (r->ops->capture_adopted != NULL) {
        st = r->ops->capture_adopted(r, &handled);
        if (st != MR_STATUS_OK) {
            goto done;
        }
    }
    if (!handled) {
        st = r->ops->image_alloc(r, r->used);
        if (st != MR_STATUS_OK) {
            goto done;
        }
        st = r->ops->copy(r, MR_REGION_TO_IMAGE);
        if (st != MR_STATUS_OK) {
            if (!r->ops->keep_image_on_failed_capture) {
                r->ops->image_free(r);
            }
            goto done;
        }
    }
    r->captured = 1;
    r->last_capture_ms = mr_region_now_ms() - start;
done:
    pthread_mutex_unlock(&r->lock);
    return st;
}

enum mr_status mr_swap_region_evict(struct mr_swap_region * r) {
    mr_clear_error();
    if (r == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_evict: region is NULL");
    }
    pthread_mutex_lock(&r->lock);
    const double start = mr_region_now_ms();
    enum mr_status st = MR_STATUS_OK;
    if (r->state == MR_SWAP_EVICTED) {
        goto done;
    }
    if (r->state != MR_SWAP_RESIDENT || !r->captured) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_evict: capture the host image before the first evict");
        goto done;
    }
    st = mr_region_enter(r);
    if (st != MR_STATUS_OK) {
        goto done;
    }
    if (r->ops->quiesce != NULL) {
        /* CUDA: every stream of every context on the device: a kernel still reading the weights must finish first. */
        st = r->ops->quiesce(r, "mr_swap_region_evict");
        if (st != MR_STATUS_OK) {
            goto done;
        }
    }
    /* Keep going past a failed release so that as much as possible is released; the chunk stays
     * committed, restore copies into it as it is, and the first error is reported. */
    enum mr_status first_error = MR_STATUS_OK;
    char first_text[512] = "";
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        enum mr_status chunk_st = r->ops->release(r, &r->chunks[i]);
        if (chunk_st != MR_STATUS_OK && first_error == MR_STATUS_OK) {
            first_error = chunk_st;
            snprintf(first_text, sizeof(first_text), "%s", mr_last_error());
        }
    }
    r->state = MR_SWAP_EVICTED;
    r->last_evict_ms = mr_region_now_ms() - start;
    if (first_error != MR_STATUS_OK) {
        st = mr_fail(first_error, "mr_swap_region_evict: %s", first_text);
    }
done:
    pthread_mutex_unlock(&r->lock);
    return st;
}

enum mr_status mr_swap_region_restore(struct mr_swap_region * r) {
    mr_clear_error();
    if (r == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_restore: region is NULL");
    }
    pthread_mutex_lock(&r->lock);
    const double start = mr_region_now_ms();
    enum mr_status st = MR_STATUS_OK;
    if (r->state == MR_SWAP_RESIDENT) {
        goto done;
    }
    if (r->state != MR_SWAP_EVICTED || r->image == NULL) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_restore: the region was never captured and evicted");
        goto done;
    }
    st = mr_region_enter(r);
    if (st != MR_STATUS_OK) {
        goto done;
    }
    /* With restore_chunk (CUDA): commit chunk i, queue its copy, commit chunk i+1 while the copy engine
     * works on chunk i, ... Without: commit every chunk, then copy the whole range. */
    const uint64_t reused_before = r->commit_reused_bytes;
    for (uint32_t i = 0; i < r->chunk_count && st == MR_STATUS_OK; i++) {
        if (!r->chunks[i].committed) {
            st = mr_region_commit(r, &r->chunks[i]);
        }
        if (st == MR_STATUS_OK && r->ops->restore_chunk != NULL) {
            st = r->ops->restore_chunk(r, i);
        }
    }
    /* Commit and copy apart, where they do not overlap: a slow restore then says which part grew. */
    const double committed_at = mr_region_now_ms();
    if (st == MR_STATUS_OK) {
        st = r->ops->restore_chunk != NULL ? r->ops->restore_finish(r) : r->ops->copy(r, MR_REGION_FROM_IMAGE);
    }
    if (st != MR_STATUS_OK) {
        mr_region_rollback(r, 0, r->chunk_count); /* every committed chunk, this call's or older */
        char text[512];
        snprintf(text, sizeof(text), "%s", mr_last_error());
        mr_fail(st, "mr_swap_region_restore: %s (nothing stays mapped; the region is still evicted)", text);
        goto done;
    }
    r->state = MR_SWAP_RESIDENT;
    r->restore_count++;
    r->last_restore_ms = mr_region_now_ms() - start;
    r->last_restore_commit_ms = r->ops->restore_chunk != NULL ? 0 : committed_at - start;
    r->last_restore_reused_bytes = r->commit_reused_bytes - reused_before;
done:
    pthread_mutex_unlock(&r->lock);
    return st;
}

enum mr_status mr_swap_region_verify(struct mr_swap_region * r, uint64_t * mismatched_bytes) {
    mr_clear_error();
    if (r == NULL || mismatched_bytes == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_verify: region and mismatched_bytes are required");
    }
    *mismatched_bytes = 0;
    pthread_mutex_lock(&r->lock);
    enum mr_status st = r->state != MR_SWAP_RESIDENT || r->image == NULL
        ? mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_verify: needs a resident, captured region")
        : mr_region_enter(r);
    if (st == MR_STATUS_OK) {
        st = r->ops->mismatches(r, mismatched_bytes);
    }
    pthread_mutex_unlock(&r->lock);
    return st;
}

enum mr_status mr_swap_region_stats(const struct mr_swap_region * region, struct mr_swap_stats * out) {
    if (region == NULL || out == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_stats: region and out are required");
    }
    struct mr_swap_region * r = (struct mr_swap_region *) region; /* const for callers; the lock is not */
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&r->lock);
    out->weight_bytes = r->used;
    out->reserved_bytes = r->reserved;
    out->host_image_bytes = r->image_bytes;
    out->state = (int32_t) r->state;
    out->host_image_registered = (uint32_t) r->image_registered;
    out->last_evict_ms = r->last_evict_ms;
    out->last_restore_ms = r->last_restore_ms;
    out->last_capture_ms = r->last_capture_ms;
    out->chunk_bytes = r->chunk_bytes;
    out->granularity_bytes = r->granularity;
    out->chunk_count = r->chunk_count;
    out->streams = r->threads;
    out->buffer_count = r->live_buffers;
    out->restore_count = r->restore_count;
    out->layout_hash = r->layout_hash;
    out->image_adopted = (uint32_t) r->image_adopted;
    out->last_restore_commit_ms = r->last_restore_commit_ms;
    out->last_restore_reused_bytes = r->last_restore_reused_bytes;
    pthread_mutex_unlock(&r->lock);
    return MR_STATUS_OK;
}

void mr_region_free_now(struct mr_swap_region * r) {
    if (r->ops->free_begin != NULL) {
        r->ops->free_begin(r);
    }
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        if (r->chunks[i].committed) {
            r->ops->release(r, &r->chunks[i]);
        }
    }
    /* The backend first (CUDA: the reservation, then the streams), then the image: CUDA's old order. */
    r->ops->free_backend(r);
    r->ops->image_free(r);
    free(r->chunks);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void mr_region_buffer_released(struct mr_swap_region * r) {
    pthread_mutex_lock(&r->lock);
    r->live_buffers--;
    const int free_region = r->destroy_pending && r->live_buffers == 0;
    pthread_mutex_unlock(&r->lock);
    if (free_region) {
        mr_region_free_now(r);
    }
}

void mr_swap_region_destroy(struct mr_swap_region * r) {
    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->lock);
    const int free_now = r->live_buffers == 0;
    r->destroy_pending = 1;
    pthread_mutex_unlock(&r->lock);
    if (free_now) {
        mr_region_free_now(r);
    }
}

ggml_backend_buffer_type_t mr_swap_region_buffer_type(struct mr_swap_region * region) {
    if (region == NULL) {
        mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_buffer_type: region is NULL");
        return NULL;
    }
    if (region->ops->buffer_type == NULL) {
        mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_buffer_type: a %s region loads through mr_swap_region_load_begin/load_end, not a buffer-type override",
                region->ops->name);
        return NULL;
    }
    return region->ops->buffer_type(region);
}

enum mr_status mr_swap_region_adopt_image(struct mr_swap_region * r, uint64_t expected_bytes, uint64_t expected_layout_hash) {
    mr_clear_error();
    if (r != NULL && r->ops->adopt_image == NULL) {
        return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_adopt_image: the %s region keeps no image across processes", r->ops->name);
    }
    if (r == NULL || expected_bytes == 0) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_adopt_image: a region and the image's size are required");
    }
    pthread_mutex_lock(&r->lock);
    enum mr_status st = MR_STATUS_OK;
    if (r->state != MR_SWAP_EMPTY || r->used != 0) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_adopt_image: adopt before the model loads through the region");
    } else {
        st = r->ops->adopt_image(r, expected_bytes, expected_layout_hash);
    }
    pthread_mutex_unlock(&r->lock);
    return st;
}
