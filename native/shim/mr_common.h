/*
 * mr_common: the parts of llama.cpp's `common` library (common/, C++) that ModelRouter.Native uses, behind a
 * small C ABI of ours. It is its own shared library (libmr_common) so that mr_shim stays plain C with no C++
 * runtime, and so that a build without it still loads everything else.
 *
 * Rules of this ABI (as mr_shim.h's, plus two):
 *   - C++ exceptions never cross it: every entry point catches everything and returns an mr_status, with the
 *     reason readable through mr_last_error() on the same thread (the one error convention of mr_shim).
 *   - Strings it returns are heap-allocated and owned by the caller, who frees them with mr_common_string_free.
 *
 * Today: JSON Schema -> GBNF through llama.cpp's own converter (common/json-schema-to-grammar.h), and the grammar
 * gate (common/sampling.cpp's rejection sampling) as a llama_sampler.
 * Reserved for a later step (issue 20, point 4): the chat-template layer (common_chat_templates_init,
 * common_chat_templates_apply, common_chat_parse) as opaque handles + JSON in/out, named mr_chat_*.
 *
 * The bindings generator reads this header; keep it parseable as C11 on its own.
 */
#ifndef MR_COMMON_H
#define MR_COMMON_H

#include "mr_shim.h" /* enum mr_status, mr_last_error() */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#    if defined(MR_COMMON_BUILD)
#        define MR_COMMON_API __declspec(dllexport)
#    else
#        define MR_COMMON_API __declspec(dllimport)
#    endif
#else
#    define MR_COMMON_API __attribute__((visibility("default")))
#endif

/* Bumped whenever a signature below changes; the managed side refuses a mismatch. */
#define MR_COMMON_ABI_VERSION 2

MR_COMMON_API int32_t mr_common_abi_version(void);

/* Converts a JSON Schema (UTF-8 JSON text, NUL-terminated) to a GBNF grammar whose start rule is "root", with
 * llama.cpp's json_schema_to_grammar. On MR_STATUS_OK *out_grammar is a NUL-terminated string the caller frees
 * with mr_common_string_free. MR_STATUS_INVALID_ARGUMENT: the text is not JSON, or the converter rejects the
 * schema (unsupported keyword combination, bad $ref, ...); mr_last_error() says why and *out_grammar is NULL.
 * MR_STATUS_OUT_OF_MEMORY: an allocation failed. */
MR_COMMON_API enum mr_status mr_json_schema_to_grammar(const char * schema_json, char ** out_grammar);

struct llama_sampler; /* llama.h */

/* A sampler that enforces `grammar` (llama_sampler_init_grammar) on what `chain` samples, the way llama.cpp's common
 * sampler does by default: `chain` samples from the full candidates first and the grammar checks that one token;
 * only when the grammar rejects it are all candidates masked by the grammar and `chain` samples again. The result has
 * the distribution of grammar-first sampling without paying the grammar over the whole vocabulary at every step
 * when the model's first choice is valid (usual for a trained model). Accept feeds both. Takes ownership of both
 * samplers (freed with the returned one, or at once on failure). NULL on failure (mr_last_error() says why). */
MR_COMMON_API struct llama_sampler * mr_sampler_init_grammar_gate(struct llama_sampler * grammar, struct llama_sampler * chain);

/* Frees a string returned by this library; NULL is ignored. */
MR_COMMON_API void mr_common_string_free(char * text);

#ifdef __cplusplus
}
#endif

#endif /* MR_COMMON_H */
