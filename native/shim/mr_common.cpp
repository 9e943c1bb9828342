// mr_common: llama.cpp's common layer behind our C ABI (see mr_common.h). Every entry point is a
// function-try-block boundary: nothing thrown by common/ (std::invalid_argument from the converter,
// common_json_error from the parser, std::bad_alloc) may unwind into a P/Invoke caller, which would
// terminate the process.
#include "mr_common.h"

#include "mr_shim_internal.h" // mr_fail / mr_clear_error: the shim's thread-local error text

#include "json-schema-to-grammar.h"
#include "json.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

namespace {

// malloc'd copy: the caller frees it through mr_common_string_free, never with the C++ allocator.
char * copy_out(const std::string & text) {
    char * out = static_cast<char *>(std::malloc(text.size() + 1));
    if (out != nullptr) {
        std::memcpy(out, text.data(), text.size());
        out[text.size()] = '\0';
    }
    return out;
}

} // namespace

extern "C" {

int32_t mr_common_abi_version(void) {
    return MR_COMMON_ABI_VERSION;
}

enum mr_status mr_json_schema_to_grammar(const char * schema_json, char ** out_grammar) {
    if (out_grammar == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_json_schema_to_grammar: out_grammar is NULL");
    }
    *out_grammar = nullptr;
    if (schema_json == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_json_schema_to_grammar: schema_json is NULL");
    }
    try {
        common_json schema;
        try {
            schema = common_json::parse(schema_json);
        } catch (const std::exception & e) {
            return mr_fail(MR_STATUS_INVALID_ARGUMENT, "the JSON schema is not valid JSON: %s", e.what());
        }
        // force_gbnf: a GBNF grammar even in a build with LLGuidance (ours has none; llama_sampler_init_grammar
        // only reads GBNF).
        const std::string grammar = json_schema_to_grammar(schema, /*force_gbnf=*/true);
        char * out = copy_out(grammar);
        if (out == nullptr) {
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_json_schema_to_grammar: could not allocate %zu bytes", grammar.size() + 1);
        }
        *out_grammar = out;
        mr_clear_error();
        return MR_STATUS_OK;
    } catch (const std::bad_alloc &) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_json_schema_to_grammar: out of memory");
    } catch (const std::exception & e) {
        // std::invalid_argument("JSON schema conversion failed: ...") and anything else common/ throws.
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "%s", e.what());
    } catch (...) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_json_schema_to_grammar: unknown C++ exception");
    }
}

void mr_common_string_free(char * text) {
    std::free(text);
}

} // extern "C"
