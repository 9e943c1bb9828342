/* The CUDA swap engine (MR_CUDA=ON, Linux): one region per model (the mechanism: the design note
 * SWAP.md; the contract: "Swap regions" in mr_shim.h; ggml's side of it: mr_swap_buffer.c).
 *
 * Physical memory: the region reserves one virtual range (cuMemAddressReserve) at create and hands out
 * granularity-aligned slices of it to buffers, each backed by chunks of chunk_bytes (cuMemCreate,
 * cuMemMap, cuMemRelease right away so that unmapping frees the memory, cuMemSetAccess). Evict unmaps
 * every chunk; restore maps them again at the same addresses while copying the host image back. */
#define _GNU_SOURCE
#include "mr_swap_internal.h"

#include "ggml-backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------ */
/* chunks */

static enum mr_status mr_chunk_map(struct mr_swap_region * r, struct mr_chunk * c) {
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof(prop));
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = r->cu_device;

    CUmemGenericAllocationHandle handle;
    CUresult res = cuMemCreate(&handle, (size_t) c->size, &prop, 0);
    if (res != CUDA_SUCCESS) {
        return mr_cu_fail(res, "cuMemCreate of a %llu-byte chunk at offset %llu on device %d", (unsigned long long) c->size,
                          (unsigned long long) c->offset, r->device);
    }
    const CUdeviceptr at = r->base + (CUdeviceptr) c->offset;
    res = cuMemMap(at, (size_t) c->size, 0, handle, 0);
    if (res != CUDA_SUCCESS) {
        cuMemRelease(handle);
        return mr_cu_fail(res, "cuMemMap of a %llu-byte chunk at offset %llu", (unsigned long long) c->size,
                          (unsigned long long) c->offset);
    }
    /* The mapping holds the memory from here on; cuMemUnmap frees it. */
    res = cuMemRelease(handle);
    if (res != CUDA_SUCCESS) {
        cuMemUnmap(at, (size_t) c->size);
        return mr_cu_fail(res, "cuMemRelease after mapping the chunk at offset %llu", (unsigned long long) c->offset);
    }
    CUmemAccessDesc access;
    memset(&access, 0, sizeof(access));
    access.location = prop.location;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    res = cuMemSetAccess(at, (size_t) c->size, &access, 1);
    if (res != CUDA_SUCCESS) {
        cuMemUnmap(at, (size_t) c->size);
        return mr_cu_fail(res, "cuMemSetAccess on the chunk at offset %llu", (unsigned long long) c->offset);
    }
    c->mapped = 1;
    return MR_STATUS_OK;
}

static enum mr_status mr_chunk_unmap(struct mr_swap_region * r, struct mr_chunk * c) {
    if (!c->mapped) {
        return MR_STATUS_OK;
    }
    CUresult res = cuMemUnmap(r->base + (CUdeviceptr) c->offset, (size_t) c->size);
    if (res != CUDA_SUCCESS) {
        return mr_cu_fail(res, "cuMemUnmap of the chunk at offset %llu", (unsigned long long) c->offset);
    }
    c->mapped = 0;
    return MR_STATUS_OK;
}

/* Unmaps chunks [first, end) after the copy streams drained (a copy may still target them). Keeps the
 * error text of the failure that caused the rollback. */
static void mr_chunks_rollback(struct mr_swap_region * r, uint32_t first, uint32_t end) {
    char cause[512];
    snprintf(cause, sizeof(cause), "%s", mr_last_error());
    const enum mr_status status = mr_last_status();
    for (int s = 0; s < r->stream_count; s++) {
        cudaStreamSynchronize(r->streams[s]);
    }
    for (uint32_t i = first; i < end; i++) {
        mr_chunk_unmap(r, &r->chunks[i]);
    }
    mr_fail(status, "%s", cause);
}

static enum mr_status mr_streams_sync(struct mr_swap_region * r, const char * what) {
    for (int s = 0; s < r->stream_count; s++) {
        cudaError_t err = cudaStreamSynchronize(r->streams[s]);
        if (err != cudaSuccess) {
            return mr_rt_fail(err, "%s: synchronising copy stream %d", what, s);
        }
    }
    return MR_STATUS_OK;
}

/* Appends and maps the chunks that back [offset, offset + size); all or nothing. */
enum mr_status mr_region_grow(struct mr_swap_region * r, uint64_t offset, uint64_t size) {
    const uint32_t needed = (uint32_t) ((size + r->chunk_bytes - 1) / r->chunk_bytes);
    if (r->chunk_count + needed > r->chunk_capacity) {
        uint32_t capacity = r->chunk_capacity == 0 ? 64 : r->chunk_capacity;
        while (capacity < r->chunk_count + needed) {
            capacity *= 2;
        }
        struct mr_chunk * grown = (struct mr_chunk *) realloc(r->chunks, capacity * sizeof(struct mr_chunk));
        if (grown == NULL) {
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no host memory for the chunk table");
        }
        r->chunks = grown;
        r->chunk_capacity = capacity;
    }
    const uint32_t first = r->chunk_count;
    for (uint64_t at = offset; at < offset + size; at += r->chunk_bytes) {
        struct mr_chunk * c = &r->chunks[r->chunk_count];
        c->offset = at;
        c->size = offset + size - at < r->chunk_bytes ? offset + size - at : r->chunk_bytes;
        c->mapped = 0;
        enum mr_status st = mr_chunk_map(r, c);
        if (st != MR_STATUS_OK) {
            mr_chunks_rollback(r, first, r->chunk_count);
            r->chunk_count = first;
            return st;
        }
        r->chunk_count++;
    }
    return MR_STATUS_OK;
}


/* ------------------------------------------------------------------------------------------------ */
/* host image */

static void mr_image_release(struct mr_swap_region * r) {
    if (r->image == NULL) {
        return;
    }
    if (r->image_registered) {
        cudaHostUnregister(r->image);
        munmap(r->image, (size_t) r->image_bytes);
    } else {
        cudaFreeHost(r->image);
    }
    r->image = NULL;
    r->image_bytes = 0;
    r->image_registered = 0;
}

/* The file mapping, registered as pinned memory; 0 with a reason in *why when any step is refused. */
static int mr_image_map_file(struct mr_swap_region * r, uint64_t size, char * why, size_t why_size) {
    int fd = open(r->cache_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, why_size, "open(%s): %s", r->cache_path, strerror(errno));
        return 0;
    }
    int rc = ftruncate(fd, (off_t) size);
    if (rc == 0) {
        /* Reserve the pages now: on a full tmpfs this fails cleanly instead of a SIGBUS later. */
        rc = posix_fallocate(fd, 0, (off_t) size);
        if (rc != 0) {
            snprintf(why, why_size, "posix_fallocate(%s, %llu bytes): %s", r->cache_path, (unsigned long long) size, strerror(rc));
            close(fd);
            return 0;
        }
    } else {
        snprintf(why, why_size, "ftruncate(%s): %s", r->cache_path, strerror(errno));
        close(fd);
        return 0;
    }
    void * p = mmap(NULL, (size_t) size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the file open */
    if (p == MAP_FAILED) {
        snprintf(why, why_size, "mmap(%s): %s", r->cache_path, strerror(errno));
        return 0;
    }
    cudaError_t err = cudaHostRegister(p, (size_t) size, cudaHostRegisterPortable);
    if (err != cudaSuccess) {
        (void) cudaGetLastError(); /* not sticky; clear it so it is not reported by the next call */
        snprintf(why, why_size, "cudaHostRegister of the mapping of %s: %s", r->cache_path, cudaGetErrorName(err));
        munmap(p, (size_t) size);
        return 0;
    }
    r->image = (unsigned char *) p;
    r->image_bytes = size;
    r->image_registered = 1;
    return 1;
}

static enum mr_status mr_image_prepare(struct mr_swap_region * r, uint64_t size) {
    if (r->image != NULL && r->image_bytes == size) {
        return MR_STATUS_OK;
    }
    mr_image_release(r);
    char why[384] = "no cache_path given";
    if (r->cache_path != NULL && mr_image_map_file(r, size, why, sizeof(why))) {
        return MR_STATUS_OK;
    }
    if (r->cache_path != NULL) {
        fprintf(stderr, "mr_swap: host image falls back to anonymous pinned memory: %s\n", why);
    }
    void * p = NULL;
    cudaError_t err = cudaHostAlloc(&p, (size_t) size, cudaHostAllocPortable);
    if (err != cudaSuccess) {
        return mr_rt_fail(err, "cudaHostAlloc of a %llu-byte host image (file mapping refused: %s)", (unsigned long long) size, why);
    }
    r->image = (unsigned char *) p;
    r->image_bytes = size;
    r->image_registered = 0;
    return MR_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* the API */

enum mr_status mr_swap_region_create(const struct mr_swap_options * options, struct mr_swap_region ** out) {
    mr_clear_error();
    if (out == NULL || options == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_create: options and out are required");
    }
    *out = NULL;
    struct mr_swap_device_info info;
    enum mr_status st = mr_swap_device_query(options->device, &info);
    if (st != MR_STATUS_OK) {
        return st;
    }
    if (!info.vmm_supported || info.granularity_bytes == 0) {
        return mr_fail(MR_STATUS_UNSUPPORTED, "device %d (%s) does not support CUDA virtual memory management", options->device, info.name);
    }

    if (ggml_backend_reg_count() == 0) {
        ggml_backend_load_all(); /* only when ggml was built with dynamic backends and none is loaded yet */
    }
    ggml_backend_reg_t reg = ggml_backend_reg_by_name("CUDA");
    if (reg == NULL || (size_t) options->device >= ggml_backend_reg_dev_count(reg)) {
        return mr_fail(MR_STATUS_UNSUPPORTED, "ggml has no CUDA device %d (is libggml-cuda loaded?)", options->device);
    }
    ggml_backend_buffer_type_t real = ggml_backend_dev_buffer_type(ggml_backend_reg_dev_get(reg, (size_t) options->device));
    if (real == NULL || real->iface.alloc_buffer == NULL) {
        return mr_fail(MR_STATUS_UNSUPPORTED, "ggml's CUDA device %d has no buffer type", options->device);
    }

    struct mr_swap_region * r = (struct mr_swap_region *) calloc(1, sizeof(*r));
    if (r == NULL) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no host memory for a swap region");
    }
    r->buft = *real;
    r->buft.iface.alloc_buffer = mr_impostor_alloc_buffer;
    r->real_buft = real;
    r->device = options->device;
    r->granularity = info.granularity_bytes;
    r->chunk_bytes = mr_round_up(options->chunk_bytes != 0 ? options->chunk_bytes : MR_DEFAULT_CHUNK_BYTES, r->granularity);
    r->reserved = mr_round_up(options->reserve_bytes != 0 ? options->reserve_bytes : info.memory_total_bytes, r->granularity);
    r->stream_count = options->streams < 1 ? MR_DEFAULT_STREAMS : options->streams;
    r->layout_hash = mr_fnv_mix(mr_fnv_mix(MR_FNV_OFFSET, r->granularity), r->chunk_bytes);
    r->state = MR_SWAP_EMPTY;
    pthread_mutex_init(&r->lock, NULL);

    if (options->cache_path != NULL && options->cache_path[0] != '\0') {
        r->cache_path = strdup(options->cache_path);
        if (r->cache_path == NULL) {
            mr_region_free_now(r);
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no host memory for the cache path");
        }
    }
    CUresult res = cuDeviceGet(&r->cu_device, options->device);
    if (res != CUDA_SUCCESS) {
        mr_region_free_now(r);
        return mr_cu_fail(res, "cuDeviceGet(%d)", options->device);
    }
    res = cuMemAddressReserve(&r->base, (size_t) r->reserved, (size_t) r->granularity, 0, 0);
    if (res != CUDA_SUCCESS) {
        r->base = 0;
        st = mr_cu_fail(res, "cuMemAddressReserve of %llu bytes on device %d", (unsigned long long) r->reserved, r->device);
        mr_region_free_now(r);
        return st;
    }
    r->streams = (cudaStream_t *) calloc((size_t) r->stream_count, sizeof(cudaStream_t));
    if (r->streams == NULL) {
        mr_region_free_now(r);
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no host memory for %d streams", r->stream_count);
    }
    for (int s = 0; s < r->stream_count; s++) {
        cudaError_t err = cudaStreamCreateWithFlags(&r->streams[s], cudaStreamNonBlocking);
        if (err != cudaSuccess) {
            r->streams[s] = NULL;
            st = mr_rt_fail(err, "cudaStreamCreateWithFlags (copy stream %d)", s);
            mr_region_free_now(r);
            return st;
        }
    }
    *out = r;
    return MR_STATUS_OK;
}

ggml_backend_buffer_type_t mr_swap_region_buffer_type(struct mr_swap_region * region) {
    if (region == NULL) {
        mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_buffer_type: region is NULL");
        return NULL;
    }
    return &region->buft;
}

/* Copies the whole mapped range between VRAM and the image over the streams. */
static enum mr_status mr_copy_all(struct mr_swap_region * r, enum cudaMemcpyKind kind, const char * what) {
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        const struct mr_chunk * c = &r->chunks[i];
        void * device = (void *) (uintptr_t) (r->base + (CUdeviceptr) c->offset);
        void * host = r->image + c->offset;
        cudaError_t err = kind == cudaMemcpyDeviceToHost
            ? cudaMemcpyAsync(host, device, (size_t) c->size, kind, r->streams[i % (uint32_t) r->stream_count])
            : cudaMemcpyAsync(device, host, (size_t) c->size, kind, r->streams[i % (uint32_t) r->stream_count]);
        if (err != cudaSuccess) {
            mr_streams_sync(r, what);
            return mr_rt_fail(err, "%s: cudaMemcpyAsync of chunk %u", what, i);
        }
    }
    return mr_streams_sync(r, what);
}

enum mr_status mr_swap_region_adopt_image(struct mr_swap_region * r, uint64_t expected_bytes, uint64_t expected_layout_hash) {
    mr_clear_error();
    if (r == NULL || expected_bytes == 0) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_adopt_image: a region and the image's size are required");
    }
    pthread_mutex_lock(&r->lock);
    enum mr_status st = MR_STATUS_OK;
    struct stat info;
    if (r->state != MR_SWAP_EMPTY || r->used != 0) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_adopt_image: adopt before the model loads through the region");
        goto done;
    }
    if (r->cache_path == NULL) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_adopt_image: the region has no cache_path");
        goto done;
    }
    /* Never create or resize here: a missing or shorter file is a different image, not one to extend. */
    if (stat(r->cache_path, &info) != 0 || (uint64_t) info.st_size != expected_bytes) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_adopt_image: %s is missing or not %llu bytes", r->cache_path,
                     (unsigned long long) expected_bytes);
        goto done;
    }
    st = mr_cuda_enter(r->device);
    if (st != MR_STATUS_OK) {
        goto done;
    }
    char why[384] = "";
    if (!mr_image_map_file(r, expected_bytes, why, sizeof(why))) {
        st = mr_fail(MR_STATUS_SYSTEM_ERROR, "mr_swap_region_adopt_image: %s", why);
        goto done;
    }
    r->adopting = 1;
    r->adopt_layout_hash = expected_layout_hash;
done:
    pthread_mutex_unlock(&r->lock);
    return st;
}

enum mr_status mr_swap_region_capture(struct mr_swap_region * r) {
    mr_clear_error();
    if (r == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_region_capture: region is NULL");
    }
    pthread_mutex_lock(&r->lock);
    const double start = mr_now_ms();
    enum mr_status st = MR_STATUS_OK;
    if (r->state != MR_SWAP_RESIDENT || r->used == 0) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_capture: the region holds no resident weights (load the model through its buffer type first)");
        goto done;
    }
    st = mr_cuda_enter(r->device);
    if (st != MR_STATUS_OK) {
        goto done;
    }
    /* The loader's uploads ran on ggml's streams: wait for all of them. */
    cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess) {
        st = mr_rt_fail(err, "mr_swap_region_capture: cudaDeviceSynchronize");
        goto done;
    }
    if (r->adopting) {
        /* The loader's uploads were discarded: VRAM holds nothing yet. Only the same layout makes the
         * image's bytes land on the same tensors. */
        if (r->used != r->image_bytes || r->layout_hash != r->adopt_layout_hash) {
            st = mr_fail(MR_STATUS_INVALID_STATE,
                         "mr_swap_region_capture: the adopted host image does not match this load's layout (%llu bytes, layout %016llx; "
                         "the image: %llu bytes, layout %016llx): load again without adopting",
                         (unsigned long long) r->used, (unsigned long long) r->layout_hash,
                         (unsigned long long) r->image_bytes, (unsigned long long) r->adopt_layout_hash);
            goto done;
        }
        st = mr_copy_all(r, cudaMemcpyHostToDevice, "capture (adopted image)");
        if (st != MR_STATUS_OK) {
            goto done;
        }
        r->adopting = 0;
        r->image_adopted = 1;
    } else {
        st = mr_image_prepare(r, r->used);
        if (st != MR_STATUS_OK) {
            goto done;
        }
        st = mr_copy_all(r, cudaMemcpyDeviceToHost, "capture");
        if (st != MR_STATUS_OK) {
            goto done;
        }
    }
    r->captured = 1;
    r->last_capture_ms = mr_now_ms() - start;
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
    const double start = mr_now_ms();
    enum mr_status st = MR_STATUS_OK;
    if (r->state == MR_SWAP_EVICTED) {
        goto done;
    }
    if (r->state != MR_SWAP_RESIDENT || !r->captured) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_evict: capture the host image before the first evict");
        goto done;
    }
    st = mr_cuda_enter(r->device);
    if (st != MR_STATUS_OK) {
        goto done;
    }
    /* Every stream of every context on the device: a kernel still reading the weights must finish first. */
    cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess) {
        st = mr_rt_fail(err, "mr_swap_region_evict: cudaDeviceSynchronize");
        goto done;
    }
    /* Keep going past a failed unmap so that as much as possible is released; the chunk keeps
     * mapped=1, restore copies into it as it is, and the first error is reported. */
    enum mr_status first_error = MR_STATUS_OK;
    char first_text[512] = "";
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        enum mr_status chunk_st = mr_chunk_unmap(r, &r->chunks[i]);
        if (chunk_st != MR_STATUS_OK && first_error == MR_STATUS_OK) {
            first_error = chunk_st;
            snprintf(first_text, sizeof(first_text), "%s", mr_last_error());
        }
    }
    r->state = MR_SWAP_EVICTED;
    r->last_evict_ms = mr_now_ms() - start;
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
    const double start = mr_now_ms();
    enum mr_status st = MR_STATUS_OK;
    if (r->state == MR_SWAP_RESIDENT) {
        goto done;
    }
    if (r->state != MR_SWAP_EVICTED || r->image == NULL) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_restore: the region was never captured and evicted");
        goto done;
    }
    st = mr_cuda_enter(r->device);
    if (st != MR_STATUS_OK) {
        goto done;
    }
    /* Map chunk i, queue its copy, map chunk i+1 while the copy engine works on chunk i, ... */
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        struct mr_chunk * c = &r->chunks[i];
        if (!c->mapped) {
            st = mr_chunk_map(r, c);
            if (st != MR_STATUS_OK) {
                break;
            }
        }
        cudaError_t err = cudaMemcpyAsync((void *) (uintptr_t) (r->base + (CUdeviceptr) c->offset), r->image + c->offset,
                                          (size_t) c->size, cudaMemcpyHostToDevice, r->streams[i % (uint32_t) r->stream_count]);
        if (err != cudaSuccess) {
            st = mr_rt_fail(err, "mr_swap_region_restore: cudaMemcpyAsync of chunk %u", i);
            break;
        }
    }
    if (st == MR_STATUS_OK) {
        st = mr_streams_sync(r, "mr_swap_region_restore");
    }
    if (st != MR_STATUS_OK) {
        mr_chunks_rollback(r, 0, r->chunk_count); /* every mapped chunk, this call's or older */
        char text[512];
        snprintf(text, sizeof(text), "%s", mr_last_error());
        mr_fail(st, "%s (nothing stays mapped; the region is still evicted)", text);
        goto done;
    }
    r->state = MR_SWAP_RESIDENT;
    r->restore_count++;
    r->last_restore_ms = mr_now_ms() - start;
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
    enum mr_status st = MR_STATUS_OK;
    unsigned char * staging = NULL;
    if (r->state != MR_SWAP_RESIDENT || r->image == NULL) {
        st = mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_verify: needs a resident, captured region");
        goto done;
    }
    st = mr_cuda_enter(r->device);
    if (st != MR_STATUS_OK) {
        goto done;
    }
    cudaError_t err = cudaHostAlloc((void **) &staging, (size_t) r->chunk_bytes, cudaHostAllocDefault);
    if (err != cudaSuccess) {
        staging = NULL;
        st = mr_rt_fail(err, "mr_swap_region_verify: cudaHostAlloc of the staging buffer");
        goto done;
    }
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        const struct mr_chunk * c = &r->chunks[i];
        err = cudaMemcpy(staging, (const void *) (uintptr_t) (r->base + (CUdeviceptr) c->offset), (size_t) c->size,
                         cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) {
            st = mr_rt_fail(err, "mr_swap_region_verify: cudaMemcpy of chunk %u", i);
            goto done;
        }
        if (memcmp(staging, r->image + c->offset, (size_t) c->size) != 0) {
            for (uint64_t k = 0; k < c->size; k++) {
                *mismatched_bytes += staging[k] != r->image[c->offset + k];
            }
        }
    }
done:
    if (staging != NULL) {
        cudaFreeHost(staging);
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
    out->streams = r->stream_count;
    out->buffer_count = r->live_buffers;
    out->restore_count = r->restore_count;
    out->layout_hash = r->layout_hash;
    out->image_adopted = (uint32_t) r->image_adopted;
    pthread_mutex_unlock(&r->lock);
    return MR_STATUS_OK;
}

void mr_region_free_now(struct mr_swap_region * r) {
    if (r->chunk_count > 0 || r->base != 0) {
        if (mr_cuda_enter(r->device) == MR_STATUS_OK) {
            cudaDeviceSynchronize();
        }
    }
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        mr_chunk_unmap(r, &r->chunks[i]);
    }
    if (r->base != 0) {
        cuMemAddressFree(r->base, (size_t) r->reserved);
    }
    if (r->streams != NULL) {
        for (int s = 0; s < r->stream_count; s++) {
            if (r->streams[s] != NULL) {
                cudaStreamDestroy(r->streams[s]);
            }
        }
    }
    mr_image_release(r);
    free(r->streams);
    free(r->chunks);
    free(r->cache_path);
    pthread_mutex_destroy(&r->lock);
    free(r);
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
