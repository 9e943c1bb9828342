/* The CUDA backend of the swap region (MR_CUDA=ON, Linux): one region per model (the mechanism: the design
 * note docs/swap.md; the contract: "Swap regions" in mr_shim.h; the backend-neutral state machine, chunk
 * table, accounting and rollback: mr_region.h / mr_swap_region.c, shared with the CPU backend; ggml's side
 * of it: mr_swap_buffer.c).
 *
 * This file holds only what touches the device, behind the ops table of mr_region.h:
 *   - commit/release of a chunk: cuMemCreate, cuMemMap, cuMemRelease right away so that unmapping frees
 *     the memory, cuMemSetAccess / cuMemUnmap, inside one virtual range reserved at create
 *     (cuMemAddressReserve);
 *   - the pinned host image: a file mapping registered with cudaHostRegister (cache_path, which also lets a
 *     later process adopt it), else cudaHostAlloc;
 *   - copies over `streams` copy streams (restore queues chunk i's copy right after mapping it);
 *   - quiesce = cudaDeviceSynchronize before capture and evict; drain = stream sync before a rollback;
 *   - the ggml-cuda buffer-type impostor (state here, buffers in mr_swap_buffer.c).
 * The CUDA calls of each operation are the ones the engine made before it moved onto the shared core, in
 * the same order; where the core's order differs it is said next to the op below. */
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

static enum mr_status mr_chunk_map(struct mr_swap_region * r, struct mr_region_chunk * c) {
    const struct mr_cuda_region * cr = mr_cuda_of(r);
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof(prop));
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = cr->cu_device;

    CUmemGenericAllocationHandle handle;
    CUresult res = cuMemCreate(&handle, (size_t) c->size, &prop, 0);
    if (res != CUDA_SUCCESS) {
        return mr_cu_fail(res, "cuMemCreate of a %llu-byte chunk at offset %llu on device %d", (unsigned long long) c->size,
                          (unsigned long long) c->offset, cr->device);
    }
    const CUdeviceptr at = mr_cuda_base(r) + (CUdeviceptr) c->offset;
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
    c->committed = 1;
    return MR_STATUS_OK;
}

static enum mr_status mr_chunk_unmap(struct mr_swap_region * r, struct mr_region_chunk * c) {
    if (!c->committed) {
        return MR_STATUS_OK;
    }
    CUresult res = cuMemUnmap(mr_cuda_base(r) + (CUdeviceptr) c->offset, (size_t) c->size);
    if (res != CUDA_SUCCESS) {
        return mr_cu_fail(res, "cuMemUnmap of the chunk at offset %llu", (unsigned long long) c->offset);
    }
    c->committed = 0;
    return MR_STATUS_OK;
}

/* what: the error text's prefix; NULL inside restore (the core prefixes "mr_swap_region_restore: "). */
static enum mr_status mr_streams_sync(struct mr_swap_region * r, const char * what) {
    const struct mr_cuda_region * cr = mr_cuda_of(r);
    for (int s = 0; s < r->threads; s++) {
        cudaError_t err = cudaStreamSynchronize(cr->streams[s]);
        if (err != cudaSuccess) {
            return what != NULL ? mr_rt_fail(err, "%s: synchronising copy stream %d", what, s)
                                : mr_rt_fail(err, "synchronising copy stream %d", s);
        }
    }
    return MR_STATUS_OK;
}

/* Copies the whole mapped range between VRAM and the image over the streams. */
static enum mr_status mr_copy_all(struct mr_swap_region * r, enum cudaMemcpyKind kind, const char * what) {
    const struct mr_cuda_region * cr = mr_cuda_of(r);
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        const struct mr_region_chunk * c = &r->chunks[i];
        void * device = (void *) (uintptr_t) (mr_cuda_base(r) + (CUdeviceptr) c->offset);
        void * host = r->image + c->offset;
        cudaError_t err = kind == cudaMemcpyDeviceToHost
            ? cudaMemcpyAsync(host, device, (size_t) c->size, kind, cr->streams[i % (uint32_t) r->threads])
            : cudaMemcpyAsync(device, host, (size_t) c->size, kind, cr->streams[i % (uint32_t) r->threads]);
        if (err != cudaSuccess) {
            mr_streams_sync(r, what);
            return mr_rt_fail(err, "%s: cudaMemcpyAsync of chunk %u", what, i);
        }
    }
    return mr_streams_sync(r, what);
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
    int fd = open(mr_cuda_of(r)->cache_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, why_size, "open(%s): %s", mr_cuda_of(r)->cache_path, strerror(errno));
        return 0;
    }
    int rc = ftruncate(fd, (off_t) size);
    if (rc == 0) {
        /* Reserve the pages now: on a full tmpfs this fails cleanly instead of a SIGBUS later. */
        rc = posix_fallocate(fd, 0, (off_t) size);
        if (rc != 0) {
            snprintf(why, why_size, "posix_fallocate(%s, %llu bytes): %s", mr_cuda_of(r)->cache_path, (unsigned long long) size, strerror(rc));
            close(fd);
            return 0;
        }
    } else {
        snprintf(why, why_size, "ftruncate(%s): %s", mr_cuda_of(r)->cache_path, strerror(errno));
        close(fd);
        return 0;
    }
    void * p = mmap(NULL, (size_t) size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the file open */
    if (p == MAP_FAILED) {
        snprintf(why, why_size, "mmap(%s): %s", mr_cuda_of(r)->cache_path, strerror(errno));
        return 0;
    }
    cudaError_t err = cudaHostRegister(p, (size_t) size, cudaHostRegisterPortable);
    if (err != cudaSuccess) {
        (void) cudaGetLastError(); /* not sticky; clear it so it is not reported by the next call */
        snprintf(why, why_size, "cudaHostRegister of the mapping of %s: %s", mr_cuda_of(r)->cache_path, cudaGetErrorName(err));
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
    if (mr_cuda_of(r)->cache_path != NULL && mr_image_map_file(r, size, why, sizeof(why))) {
        return MR_STATUS_OK;
    }
    if (mr_cuda_of(r)->cache_path != NULL) {
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
/* the ops */

static enum mr_status mr_cuda_enter_op(struct mr_swap_region * r) {
    return mr_cuda_enter(mr_cuda_of(r)->device);
}

static enum mr_status mr_cuda_quiesce(struct mr_swap_region * r, const char * what) {
    (void) r;
    cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess) {
        return mr_rt_fail(err, "%s: cudaDeviceSynchronize", what);
    }
    return MR_STATUS_OK;
}

/* Before a rollback unmaps chunks: a copy may still target them. */
static void mr_cuda_drain(struct mr_swap_region * r) {
    const struct mr_cuda_region * cr = mr_cuda_of(r);
    for (int s = 0; s < r->threads; s++) {
        cudaStreamSynchronize(cr->streams[s]);
    }
}

static void mr_cuda_free_begin(struct mr_swap_region * r) {
    if (r->chunk_count > 0 || r->base != NULL) {
        if (mr_cuda_enter(mr_cuda_of(r)->device) == MR_STATUS_OK) {
            cudaDeviceSynchronize();
        }
    }
}

static enum mr_status mr_cuda_image_alloc(struct mr_swap_region * r, uint64_t size) {
    return mr_image_prepare(r, size);
}

static enum mr_status mr_cuda_copy(struct mr_swap_region * r, enum mr_region_copy direction) {
    return direction == MR_REGION_TO_IMAGE ? mr_copy_all(r, cudaMemcpyDeviceToHost, "capture")
                                           : mr_copy_all(r, cudaMemcpyHostToDevice, "restore");
}

static enum mr_status mr_cuda_restore_chunk(struct mr_swap_region * r, uint32_t i) {
    const struct mr_region_chunk * c = &r->chunks[i];
    cudaError_t err = cudaMemcpyAsync((void *) (uintptr_t) (mr_cuda_base(r) + (CUdeviceptr) c->offset), r->image + c->offset,
                                      (size_t) c->size, cudaMemcpyHostToDevice, mr_cuda_of(r)->streams[i % (uint32_t) r->threads]);
    if (err != cudaSuccess) {
        return mr_rt_fail(err, "cudaMemcpyAsync of chunk %u", i);
    }
    return MR_STATUS_OK;
}

static enum mr_status mr_cuda_restore_finish(struct mr_swap_region * r) {
    return mr_streams_sync(r, NULL);
}

static enum mr_status mr_cuda_mismatches(struct mr_swap_region * r, uint64_t * mismatched_bytes) {
    unsigned char * staging = NULL;
    cudaError_t err = cudaHostAlloc((void **) &staging, (size_t) r->chunk_bytes, cudaHostAllocDefault);
    if (err != cudaSuccess) {
        return mr_rt_fail(err, "mr_swap_region_verify: cudaHostAlloc of the staging buffer");
    }
    enum mr_status st = MR_STATUS_OK;
    for (uint32_t i = 0; i < r->chunk_count; i++) {
        const struct mr_region_chunk * c = &r->chunks[i];
        err = cudaMemcpy(staging, (const void *) (uintptr_t) (mr_cuda_base(r) + (CUdeviceptr) c->offset), (size_t) c->size,
                         cudaMemcpyDeviceToHost);
        if (err != cudaSuccess) {
            st = mr_rt_fail(err, "mr_swap_region_verify: cudaMemcpy of chunk %u", i);
            break;
        }
        if (memcmp(staging, r->image + c->offset, (size_t) c->size) != 0) {
            for (uint64_t k = 0; k < c->size; k++) {
                *mismatched_bytes += staging[k] != r->image[c->offset + k];
            }
        }
    }
    cudaFreeHost(staging);
    return st;
}

/* The reservation, the streams and the backend state; the core frees the image right after (the old
 * order: cuMemAddressFree, cudaStreamDestroy, then the image). */
static void mr_cuda_free_backend(struct mr_swap_region * r) {
    struct mr_cuda_region * cr = mr_cuda_of(r);
    if (r->base != NULL) {
        cuMemAddressFree(mr_cuda_base(r), (size_t) r->reserved);
    }
    if (cr->streams != NULL) {
        for (int s = 0; s < r->threads; s++) {
            if (cr->streams[s] != NULL) {
                cudaStreamDestroy(cr->streams[s]);
            }
        }
    }
    free(cr->streams);
    free(cr->cache_path);
    free(cr);
    r->backend = NULL;
}

/* Capture of an adopted image: the loader's uploads were discarded, VRAM holds nothing yet. Only the same
 * layout makes the image's bytes land on the same tensors. */
static enum mr_status mr_cuda_capture_adopted(struct mr_swap_region * r, int * handled) {
    struct mr_cuda_region * cr = mr_cuda_of(r);
    *handled = 0;
    if (!cr->adopting) {
        return MR_STATUS_OK;
    }
    if (r->used != r->image_bytes || r->layout_hash != cr->adopt_layout_hash) {
        return mr_fail(MR_STATUS_INVALID_STATE,
                       "mr_swap_region_capture: the adopted host image does not match this load's layout (%llu bytes, layout %016llx; "
                       "the image: %llu bytes, layout %016llx): load again without adopting",
                       (unsigned long long) r->used, (unsigned long long) r->layout_hash,
                       (unsigned long long) r->image_bytes, (unsigned long long) cr->adopt_layout_hash);
    }
    enum mr_status st = mr_copy_all(r, cudaMemcpyHostToDevice, "capture (adopted image)");
    if (st != MR_STATUS_OK) {
        return st;
    }
    cr->adopting = 0;
    r->image_adopted = 1;
    *handled = 1;
    return MR_STATUS_OK;
}

/* Called by the core with the lock held and the region checked empty. */
static enum mr_status mr_cuda_adopt_image(struct mr_swap_region * r, uint64_t expected_bytes, uint64_t expected_layout_hash) {
    struct mr_cuda_region * cr = mr_cuda_of(r);
    struct stat info;
    if (cr->cache_path == NULL) {
        return mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_adopt_image: the region has no cache_path");
    }
    /* Never create or resize here: a missing or shorter file is a different image, not one to extend. */
    if (stat(cr->cache_path, &info) != 0 || (uint64_t) info.st_size != expected_bytes) {
        return mr_fail(MR_STATUS_INVALID_STATE, "mr_swap_region_adopt_image: %s is missing or not %llu bytes", cr->cache_path,
                       (unsigned long long) expected_bytes);
    }
    enum mr_status st = mr_cuda_enter(cr->device);
    if (st != MR_STATUS_OK) {
        return st;
    }
    char why[384] = "";
    if (!mr_image_map_file(r, expected_bytes, why, sizeof(why))) {
        return mr_fail(MR_STATUS_SYSTEM_ERROR, "mr_swap_region_adopt_image: %s", why);
    }
    cr->adopting = 1;
    cr->adopt_layout_hash = expected_layout_hash;
    return MR_STATUS_OK;
}

static ggml_backend_buffer_type_t mr_cuda_buffer_type(struct mr_swap_region * r) {
    return &mr_cuda_of(r)->buft;
}

static const struct mr_region_ops mr_cuda_ops = {
    .name = "CUDA",
    /* The engine's behaviour before the shared core, kept: a second capture copies again; a failed
     * capture copy keeps the (pinned, possibly file-backed) image for the next try. */
    .recapture = 1,
    .keep_image_on_failed_capture = 1,
    .commit = mr_chunk_map,
    .release = mr_chunk_unmap,
    .image_alloc = mr_cuda_image_alloc,
    .image_free = mr_image_release,
    .copy = mr_cuda_copy,
    .mismatches = mr_cuda_mismatches,
    .free_backend = mr_cuda_free_backend,
    .enter = mr_cuda_enter_op,
    .quiesce = mr_cuda_quiesce,
    .drain = mr_cuda_drain,
    .free_begin = mr_cuda_free_begin,
    .restore_chunk = mr_cuda_restore_chunk,
    .restore_finish = mr_cuda_restore_finish,
    .capture_adopted = mr_cuda_capture_adopted,
    .adopt_image = mr_cuda_adopt_image,
    .buffer_type = mr_cuda_buffer_type,
};

/* ------------------------------------------------------------------------------------------------ */
/* the API: create (everything else is the shared core, mr_swap_region.c) */

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
    struct mr_cuda_region * cr = (struct mr_cuda_region *) calloc(1, sizeof(*cr));
    if (r == NULL || cr == NULL) {
        free(r);
        free(cr);
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no host memory for a swap region");
    }
    cr->buft = *real;
    cr->buft.iface.alloc_buffer = mr_impostor_alloc_buffer;
    cr->real_buft = real;
    cr->region = r;
    cr->device = options->device;
    mr_region_init(r, &mr_cuda_ops, info.granularity_bytes, options->chunk_bytes,
                   options->reserve_bytes != 0 ? options->reserve_bytes : info.memory_total_bytes,
                   options->streams < 1 ? MR_DEFAULT_STREAMS : options->streams);
    r->backend = cr;
    r->image_fd = -1; /* CPU only; never used here */

    if (options->cache_path != NULL && options->cache_path[0] != '\0') {
        cr->cache_path = strdup(options->cache_path);
        if (cr->cache_path == NULL) {
            mr_region_free_now(r);
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no host memory for the cache path");
        }
    }
    CUresult res = cuDeviceGet(&cr->cu_device, options->device);
    if (res != CUDA_SUCCESS) {
        mr_region_free_now(r);
        return mr_cu_fail(res, "cuDeviceGet(%d)", options->device);
    }
    CUdeviceptr base = 0;
    res = cuMemAddressReserve(&base, (size_t) r->reserved, (size_t) r->granularity, 0, 0);
    if (res != CUDA_SUCCESS) {
        st = mr_cu_fail(res, "cuMemAddressReserve of %llu bytes on device %d", (unsigned long long) r->reserved, cr->device);
        mr_region_free_now(r);
        return st;
    }
    r->base = (unsigned char *) (uintptr_t) base;
    cr->streams = (cudaStream_t *) calloc((size_t) r->threads, sizeof(cudaStream_t));
    if (cr->streams == NULL) {
        mr_region_free_now(r);
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no host memory for %d streams", r->threads);
    }
    for (int s = 0; s < r->threads; s++) {
        cudaError_t err = cudaStreamCreateWithFlags(&cr->streams[s], cudaStreamNonBlocking);
        if (err != cudaSuccess) {
            cr->streams[s] = NULL;
            st = mr_rt_fail(err, "cudaStreamCreateWithFlags (copy stream %d)", s);
            mr_region_free_now(r);
            return st;
        }
    }
    *out = r;
    return MR_STATUS_OK;
}
