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
 * Today: JSON Schema -> GBNF through llama.cpp's own converter (common/json-schema-to-grammar.h), the grammar
 * gate (common/sampling.cpp's rejection sampling) as a llama_sampler, and chat templates rendered by the common
 * chat layer (common/chat.h: common_chat_templates_init / common_chat_templates_apply, Jinja on) behind an opaque
 * handle with JSON in (OpenAI's message shape) and text out.
 * Reserved for a later step (issue 20, point 4): tool-call parsing (common_chat_parse).
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
#define MR_COMMON_ABI_VERSION 3

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

struct llama_model; /* llama.h */

/* A model's chat templates, parsed once by llama.cpp's Jinja engine (common_chat_templates). Opaque; immutable after
 * init, so one handle may render on several threads at once. */
struct mr_chat_templates;

/* Parses a chat template with common_chat_templates_init.
 *   model:         when non-NULL and template_text is NULL or empty, the model's own templates (its GGUF
 *                  tokenizer.chat_template, and a "tool_use" variant if present), its BOS/EOS texts, and its
 *                  tokenizer's add_bos/add_eos (a leading BOS / trailing EOS the template writes is then dropped
 *                  from the prompt, because tokenizing adds them), exactly as llama-server does. May be NULL.
 *   template_text: Jinja text that overrides the model's (NULL or "" for the model's; "chatml" is ChatML).
 *   bos_token, eos_token: the texts the template sees as bos_token / eos_token when model is NULL (NULL = "").
 *   strip_bos, strip_eos: when model is NULL, whether to drop a leading bos_token / trailing eos_token from every
 *                  rendered prompt (pass the tokenizer's add_bos / add_eos; llama.cpp does this itself with a model).
 * MR_STATUS_INVALID_ARGUMENT: no template (neither text nor model), or the Jinja does not parse (mr_last_error()
 * says why). On MR_STATUS_OK *out_templates is freed with mr_chat_templates_free. */
MR_COMMON_API enum mr_status mr_chat_templates_init(const struct llama_model * model, const char * template_text,
                                                    const char * bos_token, const char * eos_token, bool strip_bos,
                                                    bool strip_eos, struct mr_chat_templates ** out_templates);

/* Renders a conversation with common_chat_templates_apply (Jinja, as llama-server with --jinja).
 *   messages_json: a JSON array of messages in OpenAI's chat shape ({"role": ..., "content": string or parts,
 *                  optional "tool_calls", "tool_call_id", "reasoning_content"}).
 *   tools_json:    NULL, or a JSON array of OpenAI tools ({"type": "function", "function": {...}}).
 *   kwargs_json:   NULL, or a JSON object of extra template variables (llama-server's chat_template_kwargs, e.g.
 *                  {"enable_thinking": false} or {"date_string": "26 Jul 2024"}); they override llama.cpp's own.
 *   out_prompt:    the rendered prompt (NUL-terminated UTF-8; caller frees with mr_common_string_free).
 *   out_grammar:   NULL, or receives the grammar llama.cpp derived for this request (tool calls), NULL when none.
 * MR_STATUS_INVALID_ARGUMENT: bad JSON, a message the layer refuses, or the template raised an error while
 * rendering (raise_exception, an undefined operation); mr_last_error() says why. */
MR_COMMON_API enum mr_status mr_chat_apply(const struct mr_chat_templates * templates, const char * messages_json,
                                           const char * tools_json, const char * kwargs_json,
                                           bool add_generation_prompt, char ** out_prompt, char ** out_grammar);

/* Frees a handle from mr_chat_templates_init; NULL is ignored. */
MR_COMMON_API void mr_chat_templates_free(struct mr_chat_templates * templates);

/* Frees a string returned by this library; NULL is ignored. */
MR_COMMON_API void mr_common_string_free(char * text);

#ifdef __cplusplus
}
#endif

#endif /* MR_COMMON_H */
