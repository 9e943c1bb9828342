/* CPU-only builds: pinned memory needs a GPU driver, so it is refused plainly, never faked. */
#include "mr_shim_internal.h"

enum mr_status mr_cuda_host_alloc_pinned(uint64_t size, void ** out) {
    (void) size;
    *out = NULL;
    return MR_STATUS_UNSUPPORTED;
}

void mr_cuda_host_free_pinned(void * ptr) {
    (void) ptr;
}
