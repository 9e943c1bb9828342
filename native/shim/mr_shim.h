/*
 * mr_shim: ModelRouter.Native's own small C ABI beside llama.cpp.
 *
 * At this stage it answers what the managed side cannot ask llama.cpp directly and cheaply: which
 * backends were compiled in, which devices exist with how much memory, and host-memory facts and
 * allocations (page-aligned, optionally locked) that the weight tiers will build on.
 *
 * Rules of this ABI: plain C, fixed-width types, no bit-fields, caller-owned output structs, every
 * function that can fail returns an mr_status, strings returned are static and never freed by callers.
 * The bindings generator reads this header; keep it parseable as C11 on its own.
 */
#ifndef MR_SHIM_H
#define MR_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#    if defined(MR_SHIM_BUILD)
#        define MR_API __declspec(dllexport)
#    else
#        define MR_API __declspec(dllimport)
#    endif
#else
#    define MR_API __attribute__((visibility("default")))
#endif

/* Bumped whenever a struct or signature below changes; the managed loader refuses a mismatch. */
#define MR_SHIM_ABI_VERSION 1

enum mr_status {
    MR_STATUS_OK               = 0,
    MR_STATUS_INVALID_ARGUMENT = -1,
    MR_STATUS_OUT_OF_RANGE     = -2,
    MR_STATUS_OUT_OF_MEMORY    = -3,
    MR_STATUS_UNSUPPORTED      = -4,
    MR_STATUS_SYSTEM_ERROR     = -5,
};

/* Backends compiled into this build (a bit set). */
enum mr_backend_flags {
    MR_BACKEND_CPU  = 1 << 0,
    MR_BACKEND_CUDA = 1 << 1,
};

/* What a host allocation asks for, and (in mr_host_buffer.granted) what it got. */
enum mr_host_alloc_flags {
    MR_HOST_ALLOC_DEFAULT    = 0,
    MR_HOST_ALLOC_LOCKED     = 1 << 0, /* mlock: never paged out (needs RLIMIT_MEMLOCK) */
    MR_HOST_ALLOC_HUGE_PAGES = 1 << 1, /* advise transparent huge pages */
    MR_HOST_ALLOC_PINNED     = 1 << 2, /* page-locked and registered with the GPU driver (CUDA builds) */
};

struct mr_build_info {
    int32_t  abi_version;           /* MR_SHIM_ABI_VERSION the library was built with */
    uint32_t compiled_backends;     /* mr_backend_flags */
    char     llama_commit[48];      /* llama.cpp commit the build used (from native/llama.cpp.lock) */
    char     ggml_version[32];      /* ggml_version() */
    char     ggml_commit[48];       /* ggml_commit() */
};

struct mr_device_info {
    char     name[64];
    char     description[256];
    int32_t  type;                  /* enum ggml_backend_dev_type */
    int32_t  index;
    uint64_t memory_free;           /* bytes, as the backend reports now */
    uint64_t memory_total;          /* bytes */
    bool     supports_async;
    bool     supports_host_buffer;
    bool     supports_events;
};

struct mr_host_memory_info {
    uint64_t page_size;             /* bytes */
    uint64_t total_bytes;           /* physical RAM */
    uint64_t available_bytes;       /* MemAvailable (Linux) or the closest equivalent */
    uint64_t lock_limit_bytes;      /* RLIMIT_MEMLOCK soft limit; UINT64_MAX when unlimited */
};

struct mr_host_buffer {
    void *   data;
    uint64_t size;                  /* bytes, rounded up to the page size */
    uint32_t requested;             /* mr_host_alloc_flags asked for */
    uint32_t granted;               /* mr_host_alloc_flags obtained (LOCKED may be refused by limits) */
};

MR_API const char * mr_status_string(enum mr_status status);

/* Version and capabilities of this build. Never fails for a non-null out. */
MR_API enum mr_status mr_build_info_get(struct mr_build_info * out);

/* Loads ggml's dynamic backends if any and returns how many devices ggml sees (CPU included). */
MR_API int32_t mr_device_count(void);
MR_API enum mr_status mr_device_info_get(int32_t index, struct mr_device_info * out);

MR_API enum mr_status mr_host_memory_query(struct mr_host_memory_info * out);

/* Page-aligned host allocation. LOCKED and HUGE_PAGES are best effort: see out->granted.
 * PINNED is all or nothing: MR_STATUS_UNSUPPORTED on a build without CUDA. */
MR_API enum mr_status mr_host_alloc(uint64_t size, uint32_t flags, struct mr_host_buffer * out);
/* Frees what mr_host_alloc returned and zeroes *buffer; a zeroed buffer is a no-op. */
MR_API void mr_host_free(struct mr_host_buffer * buffer);

#ifdef __cplusplus
}
#endif

#endif /* MR_SHIM_H */
