/* Private to the CUDA-only sources of the shim (MR_CUDA=ON): error reporting and device entry.
 * Only APIs present in both CUDA 11.8 (the compile check's headers) and 12.x/13.x (the GPU machine). */
#ifndef MR_CUDA_COMMON_H
#define MR_CUDA_COMMON_H

#include "mr_shim_internal.h"

#include <cuda.h>
#include <cuda_runtime_api.h>

/* Records "<what>: <CUDA error name> (<description>)" for mr_last_error() and maps the error to a status:
 * out-of-memory errors become MR_STATUS_OUT_OF_MEMORY, everything else MR_STATUS_DEVICE_ERROR. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
enum mr_status mr_cu_fail(CUresult result, const char * what, ...);

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
enum mr_status mr_rt_fail(cudaError_t error, const char * what, ...);

/* Makes `device` current on this thread with its primary context initialised, so that driver-API calls
 * (cuMem*) and runtime-API calls act on the same context ggml-cuda uses. */
enum mr_status mr_cuda_enter(int device);

/* Monotonic milliseconds, for the timings in the stats. */
double mr_now_ms(void);

#endif /* MR_CUDA_COMMON_H */
