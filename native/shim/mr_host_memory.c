/* Host memory facts and page-aligned allocations for the weight tiers.
 * Pinned (driver-registered) memory is delegated to mr_shim_cuda.c, compiled only when MR_CUDA=ON. */
#define _GNU_SOURCE
#include "mr_shim.h"
#include "mr_shim_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(_WIN32)
#    include <windows.h>
#else
#    include <sys/mman.h>
#    include <sys/resource.h>
#    include <unistd.h>
#endif

static uint64_t mr_page_size(void) {
#if defined(_WIN32)
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return (uint64_t) info.dwPageSize;
#else
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (uint64_t) page : 4096u;
#endif
}

#if defined(__linux__)
/* MemAvailable accounts for reclaimable page cache, which is what a new tier can really use. */
static uint64_t mr_linux_mem_available(void) {
    FILE * f = fopen("/proc/meminfo", "r");
    if (f == NULL) {
        return 0;
    }
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return (uint64_t) kib * 1024u;
}
#endif

enum mr_status mr_host_memory_query(struct mr_host_memory_info * out) {
    if (out == NULL) {
        return MR_STATUS_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof(*out));
    out->page_size = mr_page_size();
#if defined(_WIN32)
    MEMORYSTATUSEX status;
    status.dwLength = sizeof(status);
    if (!GlobalMemoryStatusEx(&status)) {
        return MR_STATUS_SYSTEM_ERROR;
    }
    out->total_bytes = status.ullTotalPhys;
    out->available_bytes = status.ullAvailPhys;
    out->lock_limit_bytes = UINT64_MAX;
#else
    long pages = sysconf(_SC_PHYS_PAGES);
    out->total_bytes = pages > 0 ? (uint64_t) pages * out->page_size : 0;
#    if defined(__linux__)
    out->available_bytes = mr_linux_mem_available();
#    else
    long avail = sysconf(_SC_AVPHYS_PAGES);
    out->available_bytes = avail > 0 ? (uint64_t) avail * out->page_size : 0;
#    endif
    struct rlimit limit;
    if (getrlimit(RLIMIT_MEMLOCK, &limit) == 0) {
        out->lock_limit_bytes = limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t) limit.rlim_cur;
    }
#endif
    return MR_STATUS_OK;
}

enum mr_status mr_host_alloc(uint64_t size, uint32_t flags, struct mr_host_buffer * out) {
    if (out == NULL) {
        return MR_STATUS_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof(*out));
    const uint32_t known = MR_HOST_ALLOC_LOCKED | MR_HOST_ALLOC_HUGE_PAGES | MR_HOST_ALLOC_PINNED;
    if (size == 0 || (flags & ~known) != 0) {
        return MR_STATUS_INVALID_ARGUMENT;
    }
    const uint64_t page = mr_page_size();
    if (size > UINT64_MAX - page) {
        return MR_STATUS_OUT_OF_RANGE;
    }
    const uint64_t rounded = (size + page - 1) / page * page;
    out->requested = flags;

    if (flags & MR_HOST_ALLOC_PINNED) {
        enum mr_status st = mr_cuda_host_alloc_pinned(rounded, &out->data);
        if (st != MR_STATUS_OK) {
            return st;
        }
        out->size = rounded;
        out->granted = MR_HOST_ALLOC_PINNED | MR_HOST_ALLOC_LOCKED; /* pinned pages are locked too */
        return MR_STATUS_OK;
    }

#if defined(_WIN32)
    void * p = VirtualAlloc(NULL, (SIZE_T) rounded, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    if (p == NULL) {
        return MR_STATUS_OUT_OF_MEMORY;
    }
    out->data = p;
    out->size = rounded;
    if ((flags & MR_HOST_ALLOC_LOCKED) && VirtualLock(p, (SIZE_T) rounded)) {
        out->granted |= MR_HOST_ALLOC_LOCKED;
    }
#else
    /* Anonymous mmap rather than malloc: page-aligned, returned to the OS on free, and madvise-able. */
    void * p = mmap(NULL, (size_t) rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return errno == ENOMEM ? MR_STATUS_OUT_OF_MEMORY : MR_STATUS_SYSTEM_ERROR;
    }
    out->data = p;
    out->size = rounded;
#    if defined(MADV_HUGEPAGE)
    if ((flags & MR_HOST_ALLOC_HUGE_PAGES) && madvise(p, (size_t) rounded, MADV_HUGEPAGE) == 0) {
        out->granted |= MR_HOST_ALLOC_HUGE_PAGES;
    }
#    endif
    if ((flags & MR_HOST_ALLOC_LOCKED) && mlock(p, (size_t) rounded) == 0) {
        out->granted |= MR_HOST_ALLOC_LOCKED;
    }
#endif
    return MR_STATUS_OK;
}

void mr_host_free(struct mr_host_buffer * buffer) {
    if (buffer == NULL || buffer->data == NULL) {
        return;
    }
    if (buffer->granted & MR_HOST_ALLOC_PINNED) {
        mr_cuda_host_free_pinned(buffer->data);
    } else {
#if defined(_WIN32)
        VirtualFree(buffer->data, 0, MEM_RELEASE);
#else
        /* munmap drops any mlock on the range, so no munlock is needed first. */
        munmap(buffer->data, (size_t) buffer->size);
#endif
    }
    memset(buffer, 0, sizeof(*buffer));
}
