/* Builds without the CUDA swap engine (CPU builds, and CUDA builds on non-Linux systems): every CUDA
 * swap function is refused plainly, never faked. CPU builds on Linux define MR_SWAP_CPU_REGION and get
 * the generic region calls from mr_swap_region.c (CPU regions, mr_swap_cpu.c) instead of the refusals
 * in the middle of this file. */
#include "mr_shim_internal.h"

#include <string.h>

#if defined(MR_HAS_CUDA)
#    define MR_NO_CUDA "the CUDA swap engine is built on Linux only"
#else
#    define MR_NO_CUDA "built without CUDA (configure with -DMR_CUDA=ON)"
#endif

enum mr_status mr_swap_device_query(int32_t device, struct mr_swap_device_info * out) {
    (void) device;
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_device_query: " MR_NO_CUDA);
}

enum mr_status mr_swap_region_create(const struct mr_swap_options * options, struct mr_swap_region ** out) {
    (void) options;
    if (out != NULL) {
        *out = NULL;
    }
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_create: " MR_NO_CUDA);
}

#if !defined(MR_SWAP_CPU_REGION)
ggml_backend_buffer_type_t mr_swap_region_buffer_type(struct mr_swap_region * region) {
    (void) region;
    mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_buffer_type: " MR_NO_CUDA);
    return NULL;
}

enum mr_status mr_swap_region_adopt_image(struct mr_swap_region * region, uint64_t expected_bytes, uint64_t expected_layout_hash) {
    (void) region;
    (void) expected_bytes;
    (void) expected_layout_hash;
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_adopt_image: " MR_NO_CUDA);
}

enum mr_status mr_swap_region_capture(struct mr_swap_region * region) {
    (void) region;
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_capture: " MR_NO_CUDA);
}

enum mr_status mr_swap_region_evict(struct mr_swap_region * region) {
    (void) region;
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_evict: " MR_NO_CUDA);
}

enum mr_status mr_swap_region_restore(struct mr_swap_region * region) {
    (void) region;
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_restore: " MR_NO_CUDA);
}

enum mr_status mr_swap_region_verify(struct mr_swap_region * region, uint64_t * mismatched_bytes) {
    (void) region;
    if (mismatched_bytes != NULL) {
        *mismatched_bytes = 0;
    }
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_verify: " MR_NO_CUDA);
}

enum mr_status mr_swap_region_stats(const struct mr_swap_region * region, struct mr_swap_stats * out) {
    (void) region;
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_stats: " MR_NO_CUDA);
}

void mr_swap_region_destroy(struct mr_swap_region * region) {
    (void) region;
}
#endif

enum mr_status mr_cuda_host_to_device_bandwidth(int32_t device, uint64_t total_bytes, uint64_t chunk_bytes,
                                                int32_t streams, int32_t pinned, struct mr_bandwidth_result * out) {
    (void) device;
    (void) total_bytes;
    (void) chunk_bytes;
    (void) streams;
    (void) pinned;
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_cuda_host_to_device_bandwidth: " MR_NO_CUDA);
}
