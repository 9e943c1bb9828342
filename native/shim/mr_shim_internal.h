/* Private to the shim: seams between the portable sources and the CUDA-only one. */
#ifndef MR_SHIM_INTERNAL_H
#define MR_SHIM_INTERNAL_H

#include "mr_shim.h"

/* Implemented by mr_shim_cuda.c in CUDA builds and by mr_shim_nocuda.c otherwise. */
enum mr_status mr_cuda_host_alloc_pinned(uint64_t size, void ** out);
void mr_cuda_host_free_pinned(void * ptr);

#endif /* MR_SHIM_INTERNAL_H */
