/* Private to the shim: seams between the portable sources and the CUDA-only ones. */
#ifndef MR_SHIM_INTERNAL_H
#define MR_SHIM_INTERNAL_H

#include "mr_shim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Implemented by mr_shim_cuda.c in CUDA builds and by mr_shim_nocuda.c otherwise. */
enum mr_status mr_cuda_host_alloc_pinned(uint64_t size, void ** out);
void mr_cuda_host_free_pinned(void * ptr);

/* mr_error.c: records the text mr_last_error() returns on this thread, and returns `status` so a
 * failure path reads `return mr_fail(MR_STATUS_X, "what: %s", why);`.
 * Exported (MR_API) although not in mr_shim.h: libmr_common reports its errors through the same
 * thread-local text, so the managed side has one mr_last_error() to read whichever library failed. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
MR_API enum mr_status mr_fail(enum mr_status status, const char * format, ...);
MR_API void mr_clear_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MR_SHIM_INTERNAL_H */
