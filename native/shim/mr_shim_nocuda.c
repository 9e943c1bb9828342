/* CPU-only builds: pinned memory needs a GPU driver, so it is refused plainly, never faked. */
#include "mr_shim_internal.h"

#define MR_NO_CUDA "built without CUDA (configure with -DMR_CUDA=ON)"

enum mr_status mr_cuda_host_alloc_pinned(uint64_t size, void ** out) {
    (void) size;
    *out = NULL;
    return mr_fail(MR_STATUS_UNSUPPORTED, "pinned host memory: " MR_NO_CUDA);
}

void mr_cuda_host_free_pinned(void * ptr) {
    (void) ptr;
}
