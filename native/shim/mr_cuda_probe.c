/* CUDA builds on Linux (MR_CUDA=ON): the device facts the swap engine needs, and the physical reference
 * of host-to-device bandwidth that bench-swap compares restores with. */
#define _GNU_SOURCE
#include "mr_cuda_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double mr_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------------------------------ */
/* device facts */

enum mr_status mr_swap_device_query(int32_t device, struct mr_swap_device_info * out) {
    if (out == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_swap_device_query: out is NULL");
    }
    memset(out, 0, sizeof(*out));
    out->device = device;
    enum mr_status st = mr_cuda_enter(device);
    if (st != MR_STATUS_OK) {
        return st;
    }
    cudaDriverGetVersion(&out->driver_version);
    cudaRuntimeGetVersion(&out->runtime_version);

    CUdevice cu_device;
    CUresult res = cuDeviceGet(&cu_device, device);
    if (res != CUDA_SUCCESS) {
        return mr_cu_fail(res, "cuDeviceGet(%d)", device);
    }
    cuDeviceGetName(out->name, (int) sizeof(out->name), cu_device);
    out->name[sizeof(out->name) - 1] = '\0';

    int value = 0;
    res = cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, cu_device);
    out->vmm_supported = res == CUDA_SUCCESS && value != 0;
    int major = 0;
    int minor = 0;
    cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, cu_device);
    cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, cu_device);
    out->compute_capability = major * 10 + minor;
    cuDeviceGetAttribute(&out->pci_bus_id, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, cu_device);

    size_t free_bytes = 0;
    size_t total_bytes = 0;
    cudaError_t err = cudaMemGetInfo(&free_bytes, &total_bytes);
    if (err != cudaSuccess) {
        return mr_rt_fail(err, "cudaMemGetInfo on device %d", device);
    }
    out->memory_free_bytes = free_bytes;
    out->memory_total_bytes = total_bytes;

    if (out->vmm_supported) {
        CUmemAllocationProp prop;
        memset(&prop, 0, sizeof(prop));
        prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
        prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        prop.location.id = cu_device;
        size_t granularity = 0;
        res = cuMemGetAllocationGranularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
        if (res != CUDA_SUCCESS) {
            return mr_cu_fail(res, "cuMemGetAllocationGranularity on device %d", device);
        }
        out->granularity_bytes = granularity;
    }
    return MR_STATUS_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* the physical reference: host -> device bandwidth */

#define MR_BANDWIDTH_REPETITIONS 5

static int mr_compare_doubles(const void * a, const void * b) {
    const double x = *(const double *) a;
    const double y = *(const double *) b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

struct mr_bandwidth_run {
    void *         device_buffer;
    void *         host_buffer;
    int            host_pinned;
    cudaStream_t * streams;
    cudaEvent_t *  joined;  /* one per stream: its last copy */
    cudaEvent_t    start;
    cudaEvent_t    stop;
    int            stream_count;
};

static void mr_bandwidth_release(struct mr_bandwidth_run * run) {
    for (int i = 0; i < run->stream_count; i++) {
        if (run->joined != NULL && run->joined[i] != NULL) {
            cudaEventDestroy(run->joined[i]);
        }
        if (run->streams != NULL && run->streams[i] != NULL) {
            cudaStreamDestroy(run->streams[i]);
        }
    }
    free(run->joined);
    free(run->streams);
    if (run->start != NULL) {
        cudaEventDestroy(run->start);
    }
    if (run->stop != NULL) {
        cudaEventDestroy(run->stop);
    }
    if (run->device_buffer != NULL) {
        cudaFree(run->device_buffer);
    }
    if (run->host_buffer != NULL) {
        if (run->host_pinned) {
            cudaFreeHost(run->host_buffer);
        } else {
            free(run->host_buffer);
        }
    }
}

/* One timed pass: all copies fan out from `start` on stream 0 and join back into `stop` on stream 0, so
 * the events bracket exactly the DMA work, whatever the number of streams. */
static enum mr_status mr_bandwidth_pass(struct mr_bandwidth_run * run, uint64_t total, uint64_t chunk, float * ms) {
    cudaError_t err = cudaEventRecord(run->start, run->streams[0]);
    for (int s = 1; err == cudaSuccess && s < run->stream_count; s++) {
        err = cudaStreamWaitEvent(run->streams[s], run->start, 0);
    }
    uint64_t index = 0;
    for (uint64_t offset = 0; err == cudaSuccess && offset < total; offset += chunk, index++) {
        const uint64_t n = total - offset < chunk ? total - offset : chunk;
        err = cudaMemcpyAsync((char *) run->device_buffer + offset, (const char *) run->host_buffer + offset, (size_t) n,
                              cudaMemcpyHostToDevice, run->streams[index % (uint64_t) run->stream_count]);
    }
    for (int s = 1; err == cudaSuccess && s < run->stream_count; s++) {
        err = cudaEventRecord(run->joined[s], run->streams[s]);
        if (err == cudaSuccess) {
            err = cudaStreamWaitEvent(run->streams[0], run->joined[s], 0);
        }
    }
    if (err == cudaSuccess) {
        err = cudaEventRecord(run->stop, run->streams[0]);
    }
    if (err == cudaSuccess) {
        err = cudaEventSynchronize(run->stop);
    }
    if (err == cudaSuccess) {
        err = cudaEventElapsedTime(ms, run->start, run->stop);
    }
    return err == cudaSuccess ? MR_STATUS_OK : mr_rt_fail(err, "host-to-device bandwidth pass");
}

enum mr_status mr_cuda_host_to_device_bandwidth(int32_t device, uint64_t total_bytes, uint64_t chunk_bytes,
                                                int32_t streams, int32_t pinned, struct mr_bandwidth_result * out) {
    if (out == NULL) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_cuda_host_to_device_bandwidth: out is NULL");
    }
    memset(out, 0, sizeof(*out));
    if (total_bytes == 0) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_cuda_host_to_device_bandwidth: total_bytes is 0");
    }
    if (chunk_bytes == 0) {
        chunk_bytes = 64ull << 20;
    }
    if (streams < 1) {
        streams = 2;
    }
    enum mr_status st = mr_cuda_enter(device);
    if (st != MR_STATUS_OK) {
        return st;
    }

    struct mr_bandwidth_run run;
    memset(&run, 0, sizeof(run));
    run.stream_count = streams;
    run.host_pinned = pinned != 0;
    run.streams = (cudaStream_t *) calloc((size_t) streams, sizeof(cudaStream_t));
    run.joined = (cudaEvent_t *) calloc((size_t) streams, sizeof(cudaEvent_t));
    if (run.streams == NULL || run.joined == NULL) {
        mr_bandwidth_release(&run);
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_cuda_host_to_device_bandwidth: no memory for %d streams", streams);
    }

    cudaError_t err = cudaMalloc(&run.device_buffer, (size_t) total_bytes);
    if (err != cudaSuccess) {
        run.device_buffer = NULL;
        mr_bandwidth_release(&run);
        return mr_rt_fail(err, "cudaMalloc of %llu bytes for the bandwidth reference", (unsigned long long) total_bytes);
    }
    if (run.host_pinned) {
        err = cudaHostAlloc(&run.host_buffer, (size_t) total_bytes, cudaHostAllocPortable);
        if (err != cudaSuccess) {
            run.host_buffer = NULL;
            mr_bandwidth_release(&run);
            return mr_rt_fail(err, "cudaHostAlloc of %llu bytes for the bandwidth reference", (unsigned long long) total_bytes);
        }
    } else if (posix_memalign(&run.host_buffer, 4096, (size_t) total_bytes) != 0) {
        run.host_buffer = NULL;
        mr_bandwidth_release(&run);
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "no %llu bytes of pageable memory for the bandwidth reference",
                       (unsigned long long) total_bytes);
    }
    /* Not zeros: every page touched and resident, with data that no layer can special-case. */
    uint64_t * words = (uint64_t *) run.host_buffer;
    for (uint64_t i = 0; i < total_bytes / 8; i++) {
        words[i] = (i + 1) * 0x9E3779B97F4A7C15ull;
    }
    memset((char *) run.host_buffer + total_bytes / 8 * 8, 0xA5, (size_t) (total_bytes % 8));

    for (int s = 0; err == cudaSuccess && s < streams; s++) {
        err = cudaStreamCreateWithFlags(&run.streams[s], cudaStreamNonBlocking);
        if (err == cudaSuccess) {
            err = cudaEventCreateWithFlags(&run.joined[s], cudaEventDisableTiming);
        }
    }
    if (err == cudaSuccess) {
        err = cudaEventCreate(&run.start);
    }
    if (err == cudaSuccess) {
        err = cudaEventCreate(&run.stop);
    }
    if (err != cudaSuccess) {
        mr_bandwidth_release(&run);
        return mr_rt_fail(err, "creating streams and events for the bandwidth reference");
    }

    float ms = 0.0f;
    st = mr_bandwidth_pass(&run, total_bytes, chunk_bytes, &ms); /* warm-up: first-touch costs stay out */
    double seconds[MR_BANDWIDTH_REPETITIONS];
    for (int i = 0; st == MR_STATUS_OK && i < MR_BANDWIDTH_REPETITIONS; i++) {
        st = mr_bandwidth_pass(&run, total_bytes, chunk_bytes, &ms);
        seconds[i] = (double) ms / 1e3;
    }
    mr_bandwidth_release(&run);
    if (st != MR_STATUS_OK) {
        return st;
    }
    qsort(seconds, MR_BANDWIDTH_REPETITIONS, sizeof(double), mr_compare_doubles);
    out->seconds = seconds[MR_BANDWIDTH_REPETITIONS / 2];
    out->gigabytes_per_second = out->seconds > 0 ? (double) total_bytes / out->seconds / 1e9 : 0.0;
    out->bytes = total_bytes;
    out->chunk_bytes = chunk_bytes;
    out->streams = streams;
    out->pinned = pinned != 0;
    return MR_STATUS_OK;
}
