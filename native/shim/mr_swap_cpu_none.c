/* Builds without the CPU swap region (CUDA builds, which build the region's core with the CUDA backend
 * only, mr_swap_cuda.c, and non-Linux systems): the CPU region's entry points are refused plainly, never faked. */
#include "mr_shim_internal.h"

#include <stddef.h>
#include <string.h>

enum mr_status mr_swap_region_create_cpu(const struct mr_cpu_swap_options * options, struct mr_swap_region ** out) {
    (void) options;
    if (out != NULL) {
        *out = NULL;
    }
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_create_cpu: the CPU swap region is built into CPU builds on Linux only");
}

enum mr_status mr_swap_region_load_begin(struct mr_swap_region * region) {
    (void) region;
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_load_begin: no CPU swap region in this build");
}

enum mr_status mr_swap_region_load_end(struct mr_swap_region * region) {
    (void) region;
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_region_load_end: no CPU swap region in this build");
}

enum mr_status mr_swap_cpu_page_pool_limit(uint64_t limit_bytes) {
    (void) limit_bytes;
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_cpu_page_pool_limit: no CPU swap region in this build");
}

enum mr_status mr_swap_cpu_page_pool_stats(struct mr_cpu_page_pool_stats * out) {
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    return mr_fail(MR_STATUS_UNSUPPORTED, "mr_swap_cpu_page_pool_stats: no CPU swap region in this build");
}
