/* The thread-local text behind mr_last_error(): the managed side reads it right after a call failed
 * on the same thread, so no locking and no allocation are needed. */
#include "mr_shim_internal.h"

#include <stdarg.h>
#include <stdio.h>

#if defined(_MSC_VER)
#    define MR_THREAD_LOCAL __declspec(thread)
#else
#    define MR_THREAD_LOCAL _Thread_local
#endif

static MR_THREAD_LOCAL char mr_error_text[512];
static MR_THREAD_LOCAL enum mr_status mr_error_status = MR_STATUS_OK;

const char * mr_last_error(void) {
    return mr_error_text;
}

enum mr_status mr_last_status(void) {
    return mr_error_status;
}

void mr_clear_error(void) {
    mr_error_text[0] = '\0';
    mr_error_status = MR_STATUS_OK;
}

enum mr_status mr_fail(enum mr_status status, const char * format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(mr_error_text, sizeof(mr_error_text), format, args);
    va_end(args);
    mr_error_status = status;
    return status;
}
