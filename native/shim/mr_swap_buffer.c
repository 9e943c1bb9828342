/* The swap engine's ggml buffers (MR_CUDA=ON, Linux): the impostor buffer type's alloc_buffer and the
 * buffer iface. The region itself is the shared core (mr_swap_region.c: chunk table, evict/restore) with
 * the CUDA backend (mr_swap_cuda.c: VMM chunks, host image, streams).
 *
 * How ggml-cuda is made to accept our memory as its own
 * -----------------------------------------------------
 * The region's buffer type (the "impostor") is a byte copy of ggml-cuda's buffer type for the device:
 * same iface, device and context, only alloc_buffer replaced. So ggml_backend_buft_is_cuda() holds
 * for it (it compares iface.get_name), ggml_backend_cuda_device_supports_buft() accepts it, and the
 * llama.cpp loader's dummy zero-size buffers of this type pass supports_op (which reads buft->context
 * as ggml-cuda's own buffer-type context: it is).
 *
 * alloc_buffer returns a buffer whose buft is the REAL CUDA buffer type, backed by a VMM range, with an
 * iface of our own that mirrors ggml-cuda's (ggml/src/ggml-cuda/ggml-cuda.cu, "cuda buffer"): same
 * copies on cudaStreamPerThread, same zeroing of quantized rows' padding in init_tensor. We cannot reuse
 * ggml-cuda's buffer iface itself: its context is a C++ object whose destructor cudaFree()s dev_ptr,
 * and cudaFree of a cuMemMap'd address fails and aborts (CUDA_CHECK). Consequences, checked against
 * the pinned source (de3ff81):
 *   - buf->buft == ggml_backend_cuda_buffer_type(dev): the asserts of set/get_tensor_async and the
 *     graph checks pass; those functions only use tensor->data, which is our VMM address.
 *   - ggml_backend_buffer_is_cuda(buf) is false (it compares iface.free_buffer): cpy_tensor and
 *     cpy_tensor_async from/to our buffers return false and ggml falls back to a synchronous copy.
 *     Weights are never a copy destination during decode, so only loading could take that path.
 *   - Risk: a future llama.cpp that casts buffer->context to ggml_backend_cuda_buffer_context after a
 *     buft check instead of an iface check would read our context. The pin (native/llama.cpp.lock)
 *     fixes the source; re-check ggml-cuda.cu's "cuda buffer" section when moving it. */
#define _GNU_SOURCE
#include "mr_swap_internal.h"

#include "ggml-backend.h"
#include "ggml.h"

#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------------------------------ */
/* the buffer: mirrors ggml-cuda's "cuda buffer" iface, over our VMM slice */

static void mr_check(cudaError_t err, const char * what) {
    if (err != cudaSuccess) {
        /* ggml-cuda aborts on these (CUDA_CHECK) and so must we: the void iface has no error path. */
        GGML_ABORT("mr_swap buffer: %s failed: %s (%s)", what, cudaGetErrorName(err), cudaGetErrorString(err));
    }
}

static void mr_buffer_free(ggml_backend_buffer_t buffer) {
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
    struct mr_swap_region * r = b->region;
    free(b);
    mr_region_buffer_released(r);
}

static void * mr_buffer_get_base(ggml_backend_buffer_t buffer) {
    return ((struct mr_swap_buffer *) buffer->context)->base;
}

static enum ggml_status mr_buffer_init_tensor(ggml_backend_buffer_t buffer, struct ggml_tensor * tensor) {
    if (tensor->view_src != NULL) {
        return GGML_STATUS_SUCCESS;
    }
    /* As ggml-cuda: zero the padding of quantized rows so that kernels reading whole blocks never see NaNs. */
    if (ggml_is_quantized(tensor->type) && ggml_backend_buffer_get_usage(buffer) != GGML_BACKEND_BUFFER_USAGE_COMPUTE) {
        const size_t original = ggml_nbytes(tensor);
        const size_t padded = ggml_backend_buft_get_alloc_size(buffer->buft, tensor);
        if (padded > original) {
            struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
            if (cudaSetDevice(mr_cuda_of(b->region)->device) != cudaSuccess ||
                cudaMemset((char *) tensor->data + original, 0, padded - original) != cudaSuccess) {
                return GGML_STATUS_FAILED;
            }
        }
    }
    return GGML_STATUS_SUCCESS;
}

static void mr_buffer_memset_tensor(ggml_backend_buffer_t buffer, struct ggml_tensor * tensor, uint8_t value,
                                    size_t offset, size_t size) {
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
    mr_check(cudaSetDevice(mr_cuda_of(b->region)->device), "cudaSetDevice");
    mr_check(cudaMemsetAsync((char *) tensor->data + offset, value, size, cudaStreamPerThread), "cudaMemsetAsync");
    mr_check(cudaStreamSynchronize(cudaStreamPerThread), "cudaStreamSynchronize");
}

static void mr_buffer_set_tensor(ggml_backend_buffer_t buffer, struct ggml_tensor * tensor, const void * data,
                                 size_t offset, size_t size) {
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
    if (mr_cuda_of(b->region)->adopting) {
        return; /* the adopted image holds these bytes; capture copies it in (and the file is never read) */
    }
    mr_check(cudaSetDevice(mr_cuda_of(b->region)->device), "cudaSetDevice");
    mr_check(cudaMemcpyAsync((char *) tensor->data + offset, data, size, cudaMemcpyHostToDevice, cudaStreamPerThread),
             "cudaMemcpyAsync host to device");
    mr_check(cudaStreamSynchronize(cudaStreamPerThread), "cudaStreamSynchronize");
}

static void mr_buffer_get_tensor(ggml_backend_buffer_t buffer, const struct ggml_tensor * tensor, void * data,
                                 size_t offset, size_t size) {
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
    mr_check(cudaSetDevice(mr_cuda_of(b->region)->device), "cudaSetDevice");
    mr_check(cudaMemcpyAsync(data, (const char *) tensor->data + offset, size, cudaMemcpyDeviceToHost, cudaStreamPerThread),
             "cudaMemcpyAsync device to host");
    mr_check(cudaStreamSynchronize(cudaStreamPerThread), "cudaStreamSynchronize");
}

static void mr_buffer_set_tensor_2d(ggml_backend_buffer_t buffer, struct ggml_tensor * tensor, const void * data,
                                    size_t offset, size_t size, size_t n_copies, size_t stride_tensor, size_t stride_data) {
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
    if (mr_cuda_of(b->region)->adopting) {
        return;
    }
    mr_check(cudaSetDevice(mr_cuda_of(b->region)->device), "cudaSetDevice");
    mr_check(cudaMemcpy2DAsync((char *) tensor->data + offset, stride_tensor, data, stride_data, size, n_copies,
                               cudaMemcpyHostToDevice, cudaStreamPerThread),
             "cudaMemcpy2DAsync host to device");
    mr_check(cudaStreamSynchronize(cudaStreamPerThread), "cudaStreamSynchronize");
}

static void mr_buffer_get_tensor_2d(ggml_backend_buffer_t buffer, const struct ggml_tensor * tensor, void * data,
                                    size_t offset, size_t size, size_t n_copies, size_t stride_tensor, size_t stride_data) {
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
    mr_check(cudaSetDevice(mr_cuda_of(b->region)->device), "cudaSetDevice");
    mr_check(cudaMemcpy2DAsync(data, stride_data, (const char *) tensor->data + offset, stride_tensor, size, n_copies,
                               cudaMemcpyDeviceToHost, cudaStreamPerThread),
             "cudaMemcpy2DAsync device to host");
    mr_check(cudaStreamSynchronize(cudaStreamPerThread), "cudaStreamSynchronize");
}

/* dst is in our buffer. A source on the same device (a real CUDA buffer or one of ours, which report
 * the same buft) is copied device to device; anything else returns false and ggml falls back. */
static bool mr_buffer_cpy_tensor(ggml_backend_buffer_t buffer, const struct ggml_tensor * src, struct ggml_tensor * dst) {
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
    if (src->buffer == NULL || src->buffer->buft != mr_cuda_of(b->region)->real_buft) {
        return false;
    }
    mr_check(cudaSetDevice(mr_cuda_of(b->region)->device), "cudaSetDevice");
    mr_check(cudaMemcpyAsync(dst->data, src->data, ggml_nbytes(src), cudaMemcpyDeviceToDevice, cudaStreamPerThread),
             "cudaMemcpyAsync device to device");
    mr_check(cudaStreamSynchronize(cudaStreamPerThread), "cudaStreamSynchronize");
    return true;
}

static void mr_buffer_clear(ggml_backend_buffer_t buffer, uint8_t value) {
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) buffer->context;
    mr_check(cudaSetDevice(mr_cuda_of(b->region)->device), "cudaSetDevice");
    mr_check(cudaMemsetAsync(b->base, value, buffer->size, cudaStreamPerThread), "cudaMemsetAsync");
    mr_check(cudaStreamSynchronize(cudaStreamPerThread), "cudaStreamSynchronize");
}

static const struct ggml_backend_buffer_i mr_swap_buffer_iface = {
    /* .free_buffer   = */ mr_buffer_free,
    /* .get_base      = */ mr_buffer_get_base,
    /* .init_tensor   = */ mr_buffer_init_tensor,
    /* .memset_tensor = */ mr_buffer_memset_tensor,
    /* .set_tensor    = */ mr_buffer_set_tensor,
    /* .get_tensor    = */ mr_buffer_get_tensor,
    /* .set_tensor_2d = */ mr_buffer_set_tensor_2d,
    /* .get_tensor_2d = */ mr_buffer_get_tensor_2d,
    /* .cpy_tensor    = */ mr_buffer_cpy_tensor,
    /* .clear         = */ mr_buffer_clear,
    /* .reset         = */ NULL,
};

/* The impostor's alloc_buffer. Failures return NULL (llama.cpp then says "unable to allocate CUDA0
 * buffer"); mr_last_error() on the loading thread says why. The checks, the device entry and the chunk
 * mapping are the core's mr_region_allocate (checks, then mr_cuda_enter, then the chunks: the old order).
 * The buffer context is allocated first now (it was after the checks): host memory only, no CUDA call
 * moves. */
ggml_backend_buffer_t mr_impostor_alloc_buffer(ggml_backend_buffer_type_t buft, size_t size) {
    struct mr_swap_region * r = ((struct mr_cuda_region *) buft)->region; /* buft is the state's first member */
    pthread_mutex_lock(&r->lock);
    ggml_backend_buffer_t result = NULL;
    uint64_t offset = 0;
    struct mr_swap_buffer * b = (struct mr_swap_buffer *) calloc(1, sizeof(*b));
    if (b == NULL) {
        mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_swap: no host memory for a buffer context");
        goto done;
    }
    if (mr_region_allocate(r, (uint64_t) size, &offset) != MR_STATUS_OK) {
        free(b);
        goto done;
    }
    b->region = r;
    b->base = (void *) (uintptr_t) (mr_cuda_base(r) + (CUdeviceptr) offset);
    result = ggml_backend_buffer_init(mr_cuda_of(r)->real_buft, mr_swap_buffer_iface, b, size);
done:
    pthread_mutex_unlock(&r->lock);
    if (result == NULL) {
        fprintf(stderr, "mr_swap: alloc_buffer of %zu bytes failed: %s\n", size, mr_last_error());
    }
    return result;
}
