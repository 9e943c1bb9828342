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
 * handle with JSON in (OpenAI's message shape) and text out; tool calls: a request rendered with its tools
 * (mr_chat_render: the prompt plus the grammar, triggers and parser llama.cpp derived for the model's format), the
 * grammar sampler llama.cpp's common sampler would build for it, and the model's output parsed back into OpenAI
 * deltas (common_chat_parse, as llama-server streams them).
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
#define MR_COMMON_ABI_VERSION 4

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

/* Renders one chat request the way llama-server's chat completions endpoint does (common_chat_templates_apply with
 * Jinja), tools included, and says everything generation and parsing need, as one JSON object.
 *   request_json: {"messages": [...OpenAI messages...], "tools": [...OpenAI tools...] (optional),
 *                  "tool_choice": "auto" | "required" | "none" (optional, "auto"), "parallel_tool_calls": bool
 *                  (optional, false), "chat_template_kwargs": {...} (optional), "add_generation_prompt": bool
 *                  (optional, true)}.
 *   out_json:     {"prompt": text, "format": name, "grammar": GBNF or null, "grammar_lazy": bool,
 *                  "grammar_trigger_patterns": [regex, ...] (what wakes a lazy grammar, matched on generated text),
 *                  "grammar_prefill": bool (feed "generation_prompt" to the grammar before sampling),
 *                  "generation_prompt": text, "preserved_tokens": [text, ...] (tokens the output must keep as text),
 *                  "additional_stops": [text, ...], "parser": text (the format's parser, for mr_chat_parser_init)}.
 *                  The caller frees it with mr_common_string_free.
 * MR_STATUS_INVALID_ARGUMENT: bad JSON, a message or tool llama.cpp refuses, an unknown tool_choice, or the template
 * raised an error; mr_last_error() says why. */
MR_COMMON_API enum mr_status mr_chat_render(const struct mr_chat_templates * templates, const char * request_json, char ** out_json);

/* llama.cpp's grammar sampler set up as its common sampler does for a chat request (common_sampler_init): lazy with
 * `trigger_patterns` (regexes over the generated text) when `lazy`, and, when `prefill` is non-NULL, advanced past the
 * tokens of that text (the generation prompt the template already wrote). NULL on failure (the grammar does not
 * compile for this vocabulary, or the prefill does not fit it); mr_last_error() says why. Free with llama_sampler_free
 * (or hand it to mr_sampler_init_grammar_gate). */
MR_COMMON_API struct llama_sampler * mr_sampler_init_chat_grammar(const struct llama_vocab * vocab, const char * grammar, bool lazy,
                                                                  const char * const * trigger_patterns, int32_t trigger_pattern_count,
                                                                  const char * prefill);

/* A parser of one answer's output in a chat format (common_chat_parse), for one request; not thread-safe. */
struct mr_chat_parser;

/* format: the "format" name from mr_chat_render; parser: its "parser" text (may be empty: plain content);
 * generation_prompt: its "generation_prompt". */
MR_COMMON_API enum mr_status mr_chat_parser_init(const char * format, const char * parser, const char * generation_prompt,
                                                 struct mr_chat_parser ** out_parser);

/* Appends `length` bytes of generated UTF-8 text (may be 0) and parses everything so far; is_final: the answer has
 * ended (a partial tool call is then an error of the output, not a wait for more). *out_json receives
 *   {"deltas": [{"content": text} | {"reasoning_content": text} |
 *               {"tool_call": {"index": n, "id": text (first delta of a call only), "name": text (same),
 *                              "arguments": text}}, ...],
 *    "tool_calls": n (calls found so far), "error": text (is_final only: the output does not match the format, and
 *    the deltas then carry the unsent rest of the raw output as content; or a call's arguments are not complete JSON,
 *    an output cut by max_tokens, and the call stays as it was sent)}
 * in OpenAI's streaming order: a call's id and name come once, before its arguments. Free with mr_common_string_free. */
MR_COMMON_API enum mr_status mr_chat_parser_update(struct mr_chat_parser * parser, const char * text, size_t length, bool is_final,
                                                   char ** out_json);

/* Frees a parser; NULL is ignored. */
MR_COMMON_API void mr_chat_parser_free(struct mr_chat_parser * parser);

/* Frees a handle from mr_chat_templates_init; NULL is ignored. */
MR_COMMON_API void mr_chat_templates_free(struct mr_chat_templates * templates);

/* Frees a string returned by this library; NULL is ignored. */
MR_COMMON_API void mr_common_string_free(char * text);

#ifdef __cplusplus
}
#endif

#endif /* MR_COMMON_H */
