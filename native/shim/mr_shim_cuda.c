/* CUDA builds only (MR_CUDA=ON): page-locked host memory registered with the driver (the source of
 * full-bandwidth DMA into VRAM) and the error/device-entry helpers of the CUDA sources. Portable code
 * stays in mr_host_memory.c; device facts and the bandwidth reference are in mr_cuda_probe.c, the swap
 * regions in mr_swap_cuda.c (both Linux-only). */
#define _GNU_SOURCE
#include "mr_cuda_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------ */
/* errors, device entry */

static enum mr_status mr_vfail(enum mr_status status, const char * name, const char * description,
                               const char * what, va_list args) {
    char context[320];
    vsnprintf(context, sizeof(context), what, args);
    return mr_fail(status, "%s: %s (%s)", context, name != NULL ? name : "unknown CUDA error",
                   description != NULL ? description : "no description");
}

enum mr_status mr_cu_fail(CUresult result, const char * what, ...) {
    const char * name = NULL;
    const char * description = NULL;
    cuGetErrorName(result, &name);
    cuGetErrorString(result, &description);
    const enum mr_status status = result == CUDA_ERROR_OUT_OF_MEMORY ? MR_STATUS_OUT_OF_MEMORY : MR_STATUS_DEVICE_ERROR;
    va_list args;
    va_start(args, what);
    mr_vfail(status, name, description, what, args);
    va_end(args);
    return status;
}

enum mr_status mr_rt_fail(cudaError_t error, const char * what, ...) {
    const enum mr_status status = error == cudaErrorMemoryAllocation ? MR_STATUS_OUT_OF_MEMORY : MR_STATUS_DEVICE_ERROR;
    va_list args;
    va_start(args, what);
    mr_vfail(status, cudaGetErrorName(error), cudaGetErrorString(error), what, args);
    va_end(args);
    return status;
}

enum mr_status mr_cuda_enter(int device) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        return mr_rt_fail(err, "cudaGetDeviceCount");
    }
    if (device < 0 || device >= count) {
        return mr_fail(MR_STATUS_OUT_OF_RANGE, "CUDA device %d does not exist (%d device(s))", device, count);
    }
    err = cudaSetDevice(device);
    if (err != cudaSuccess) {
        return mr_rt_fail(err, "cudaSetDevice(%d)", device);
    }
    /* cudaSetDevice initialises the primary context only from CUDA 12 on; cudaFree(0) does it everywhere. */
    err = cudaFree(NULL);
    if (err != cudaSuccess) {
        return mr_rt_fail(err, "initialising the CUDA context of device %d", device);
    }
    return MR_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* pinned host memory (mr_host_alloc with MR_HOST_ALLOC_PINNED) */

enum mr_status mr_cuda_host_alloc_pinned(uint64_t size, void ** out) {
    *out = NULL;
    /* Portable: usable from every CUDA context; WriteCombined is not used because the tier is read
     * back by the CPU when it is written to a cache file. */
    cudaError_t err = cudaHostAlloc(out, (size_t) size, cudaHostAllocPortable);
    if (err != cudaSuccess) {
        *out = NULL;
        return mr_rt_fail(err, "cudaHostAlloc of %llu bytes", (unsigned long long) size);
    }
    return MR_STATUS_OK;
}

void mr_cuda_host_free_pinned(void * ptr) {
    if (ptr != NULL) {
        cudaFreeHost(ptr);
    }
}

