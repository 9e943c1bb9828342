/* mr_shim: build information and device probes. Host memory lives in mr_host_memory.c. */
#include "mr_shim.h"

#include "ggml-backend.h"
#include "ggml.h"

#include <string.h>

#ifndef MR_LLAMA_COMMIT
#    define MR_LLAMA_COMMIT "unknown"
#endif

/* Copies a C string into a fixed field, always terminated; NULL becomes "". */
static void mr_copy_string(char * dst, size_t capacity, const char * src) {
    if (capacity == 0) {
        return;
    }
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    size_t n = strlen(src);
    if (n >= capacity) {
        n = capacity - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

const char * mr_status_string(enum mr_status status) {
    switch (status) {
        case MR_STATUS_OK:               return "ok";
        case MR_STATUS_INVALID_ARGUMENT: return "invalid argument";
        case MR_STATUS_OUT_OF_RANGE:     return "out of range";
        case MR_STATUS_OUT_OF_MEMORY:    return "out of memory";
        case MR_STATUS_UNSUPPORTED:      return "unsupported by this build";
        case MR_STATUS_SYSTEM_ERROR:     return "system error";
        case MR_STATUS_INVALID_STATE:    return "invalid state";
        case MR_STATUS_DEVICE_ERROR:     return "device error";
    }
    return "unknown status";
}

enum mr_status mr_build_info_get(struct mr_build_info * out) {
    if (out == NULL) {
        return MR_STATUS_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof(*out));
    out->abi_version = MR_SHIM_ABI_VERSION;
    out->compiled_backends = MR_BACKEND_CPU;
#if defined(MR_HAS_CUDA)
    out->compiled_backends |= MR_BACKEND_CUDA;
#endif
    mr_copy_string(out->llama_commit, sizeof(out->llama_commit), MR_LLAMA_COMMIT);
    mr_copy_string(out->ggml_version, sizeof(out->ggml_version), ggml_version());
    mr_copy_string(out->ggml_commit, sizeof(out->ggml_commit), ggml_commit());
    return MR_STATUS_OK;
}

int32_t mr_device_count(void) {
    /* A no-op when backends are linked statically (our build); loads backend modules when ggml was
     * built with GGML_BACKEND_DL, so the count is the same either way. Only once: it is not idempotent. */
    static int loaded = 0;
    if (!loaded && ggml_backend_reg_count() == 0) {
        ggml_backend_load_all();
    }
    loaded = 1;
    return (int32_t) ggml_backend_dev_count();
}

enum mr_status mr_device_info_get(int32_t index, struct mr_device_info * out) {
    if (out == NULL) {
        return MR_STATUS_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof(*out));
    if (index < 0 || index >= mr_device_count()) {
        return MR_STATUS_OUT_OF_RANGE;
    }
    ggml_backend_dev_t dev = ggml_backend_dev_get((size_t) index);
    if (dev == NULL) {
        return MR_STATUS_OUT_OF_RANGE;
    }
    struct ggml_backend_dev_props props;
    memset(&props, 0, sizeof(props));
    ggml_backend_dev_get_props(dev, &props);
    mr_copy_string(out->name, sizeof(out->name), props.name);
    mr_copy_string(out->description, sizeof(out->description), props.description);
    out->type = (int32_t) props.type;
    out->index = index;
    out->memory_free = (uint64_t) props.memory_free;
    out->memory_total = (uint64_t) props.memory_total;
    out->supports_async = props.caps.async;
    out->supports_host_buffer = props.caps.host_buffer;
    out->supports_events = props.caps.events;
    return MR_STATUS_OK;
}
