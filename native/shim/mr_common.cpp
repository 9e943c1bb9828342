// mr_common: llama.cpp's common layer behind our C ABI (see mr_common.h). Every entry point is a
// function-try-block boundary: nothing thrown by common/ (std::invalid_argument from the converter,
// common_json_error from the parser, std::bad_alloc) may unwind into a P/Invoke caller, which would
// terminate the process.
#include "mr_common.h"

#include "mr_shim_internal.h" // mr_fail / mr_clear_error: the shim's thread-local error text

// common/jinja's headers define static helpers that this file does not call; -Werror would refuse them.
#if defined(__GNUC__)
#    pragma GCC diagnostic push
#    pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "chat.h"
#if defined(__GNUC__)
#    pragma GCC diagnostic pop
#endif
#include "json-schema-to-grammar.h"
#include "json.h"
#include "llama.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

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

// The grammar gate (mr_sampler_init_grammar_gate). Runs inside llama_sampler_sample on the worker's decode
// thread; `copy` is kept between steps so that a step allocates nothing once it has grown to the vocabulary.
struct grammar_gate {
    llama_sampler * grammar;
    llama_sampler * chain;
    std::vector<llama_token_data> copy;
};

const char * gate_name(const llama_sampler * /*smpl*/) {
    return "mr-grammar-gate";
}

void gate_accept(llama_sampler * smpl, llama_token token) {
    auto * gate = static_cast<grammar_gate *>(smpl->ctx);
    llama_sampler_accept(gate->grammar, token);
    llama_sampler_accept(gate->chain, token);
}

void gate_apply(llama_sampler * smpl, llama_token_data_array * cur_p) {
    auto * gate = static_cast<grammar_gate *>(smpl->ctx);

    // 1. The chain's choice among all candidates, on a copy (the chain sorts and truncates in place).
    gate->copy.assign(cur_p->data, cur_p->data + cur_p->size);
    llama_token_data_array first = { gate->copy.data(), gate->copy.size(), -1, cur_p->sorted };
    llama_sampler_apply(gate->chain, &first);
    if (first.selected >= 0 && first.selected < (int64_t) first.size) {
        // 2. The grammar judges that one token (a one-candidate array: -inf when it would leave the language).
        llama_token_data single = { first.data[first.selected].id, 1.0f, 0.0f };
        llama_token_data_array one = { &single, 1, -1, false };
        llama_sampler_apply(gate->grammar, &one);
        if (!std::isinf(single.logit)) {
            std::copy(first.data, first.data + first.size, cur_p->data);
            cur_p->size = first.size;
            cur_p->selected = first.selected;
            cur_p->sorted = first.sorted;
            return;
        }
    }

    // 3. Rejected: the grammar masks every candidate, then the chain samples among what is left.
    llama_sampler_apply(gate->grammar, cur_p);
    llama_sampler_apply(gate->chain, cur_p);
}

void gate_reset(llama_sampler * smpl) {
    auto * gate = static_cast<grammar_gate *>(smpl->ctx);
    llama_sampler_reset(gate->grammar);
    llama_sampler_reset(gate->chain);
}

llama_sampler * gate_clone(const llama_sampler * smpl);

void gate_free(llama_sampler * smpl) {
    auto * gate = static_cast<grammar_gate *>(smpl->ctx);
    llama_sampler_free(gate->grammar);
    llama_sampler_free(gate->chain);
    delete gate;
}

llama_sampler_i gate_interface() {
    llama_sampler_i iface {};
    iface.name = gate_name;
    iface.accept = gate_accept;
    iface.apply = gate_apply;
    iface.reset = gate_reset;
    iface.clone = gate_clone;
    iface.free = gate_free;
    return iface;
}

// Not const: llama_sampler_init takes a mutable interface pointer (it never writes through it).
llama_sampler_i gate_iface = gate_interface();

llama_sampler * gate_clone(const llama_sampler * smpl) {
    const auto * gate = static_cast<const grammar_gate *>(smpl->ctx);
    auto * copy = new grammar_gate { llama_sampler_clone(gate->grammar), llama_sampler_clone(gate->chain), {} };
    return llama_sampler_init(&gate_iface, copy);
}


// What common_sampler_init makes of a chat's grammar triggers: every trigger as a regex over the generated text.
// (llama-server turns a one-token trigger word into a token trigger; matching its text is equivalent because the
// lazy grammar matches the pieces of special tokens too.)
std::vector<std::string> trigger_patterns(const std::vector<common_grammar_trigger> & triggers) {
    std::vector<std::string> patterns;
    patterns.reserve(triggers.size());
    for (const auto & trigger : triggers) {
        switch (trigger.type) {
            case COMMON_GRAMMAR_TRIGGER_TYPE_WORD:
            case COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN:
                patterns.push_back(regex_escape(trigger.value));
                break;
            case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN:
                patterns.push_back(trigger.value);
                break;
            case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL: {
                const auto & pattern = trigger.value;
                if (pattern.empty()) {
                    patterns.emplace_back("^$");
                } else {
                    patterns.push_back((pattern.front() != '^' ? "^" : "") + pattern + (pattern.back() != '$' ? "$" : ""));
                }
                break;
            }
        }
    }
    return patterns;
}

common_chat_format format_from_name(const std::string & name) {
    for (int i = 0; i < COMMON_CHAT_FORMAT_COUNT; i++) {
        const auto format = static_cast<common_chat_format>(i);
        if (name == common_chat_format_name(format)) {
            return format;
        }
    }
    throw std::invalid_argument("unknown chat format '" + name + "'");
}

// OpenAI-style call ids ("call_" + 24 letters and digits), unique per answer; not a secret, only an identifier.
std::string new_tool_call_id(std::mt19937_64 & random) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::uniform_int_distribution<size_t> pick(0, sizeof(alphabet) - 2);
    std::string id = "call_";
    for (int i = 0; i < 24; i++) {
        id += alphabet[pick(random)];
    }
    return id;
}

} // namespace

// The handle behind struct mr_chat_parser: one answer's text so far, what was parsed from it, what was sent.
struct mr_chat_parser {
    common_chat_parser_params params;
    std::string text;
    common_chat_msg message;            // the last parse
    std::vector<std::string> call_ids;  // stable ids per call index
    std::set<size_t> announced;         // calls whose id and name went out
    std::string sent_content;           // content sent, for the raw fallback when the final parse fails
    std::mt19937_64 random { std::random_device {}() };
};

namespace {

void add_content(common_json & deltas, const char * key, const std::string & text) {
    if (!text.empty()) {
        deltas.push_back({ { key, text } });
    }
}

void add_call(common_json & deltas, size_t index, const std::string * id, const std::string * name, const std::string & arguments) {
    common_json call = { { "index", index } };
    if (id != nullptr) {
        call["id"] = *id;
        call["name"] = *name;
    }
    call["arguments"] = arguments;
    deltas.push_back({ { "tool_call", std::move(call) } });
}

// A call's id and name go out once: when its arguments start (a name can still grow while its first characters
// stream), or at the end. Then only argument pieces, as OpenAI streams them.
void emit_diffs(mr_chat_parser & p, const common_chat_msg & previous, bool is_final, common_json & deltas) {
    for (auto & diff : common_chat_msg_diff::compute_diffs(previous, p.message)) {
        add_content(deltas, "reasoning_content", diff.reasoning_content_delta);
        if (!diff.content_delta.empty()) {
            p.sent_content += diff.content_delta;
            add_content(deltas, "content", diff.content_delta);
        }
        if (diff.tool_call_index == std::string::npos) {
            continue;
        }
        const size_t i = diff.tool_call_index;
        const auto & call = p.message.tool_calls[i];
        if (p.announced.count(i) != 0) {
            if (!diff.tool_call_delta.arguments.empty()) {
                add_call(deltas, i, nullptr, nullptr, diff.tool_call_delta.arguments);
            }
        } else if (!call.name.empty() && (!diff.tool_call_delta.arguments.empty() || is_final)) {
            p.announced.insert(i);
            add_call(deltas, i, &call.id, &call.name, call.arguments);
        }
    }
    for (size_t i = 0; i < p.message.tool_calls.size(); i++) {
        // A call whose arguments arrived before its header could go out (or one still unannounced at the end).
        const auto & call = p.message.tool_calls[i];
        if (p.announced.count(i) == 0 && !call.name.empty() && (is_final || !call.arguments.empty())) {
            p.announced.insert(i);
            add_call(deltas, i, &call.id, &call.name, call.arguments);
        }
    }
}

} // namespace

// The handle behind struct mr_chat_templates: llama.cpp's templates plus what it cannot know without a model.
struct mr_chat_templates {
    common_chat_templates_ptr templates;
    std::string bos;
    std::string eos;
    bool strip_bos;
    bool strip_eos;
};

namespace {

// An error text of one line: the doors put it in one JSON error message.
std::string one_line(std::string text) {
    for (auto & c : text) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return text;
}

// llama-server's chat_template_kwargs: each value as JSON text. False when `kwargs` is not an object.
bool add_template_kwargs(const common_json & kwargs, common_chat_templates_inputs & inputs) {
    if (!kwargs.is_object()) {
        return false;
    }
    for (const auto & [key, value] : kwargs.items()) {
        inputs.chat_template_kwargs[key] = value.dump();
    }
    return true;
}

// common_chat_templates_apply, then what llama.cpp's common_chat_template_direct_apply does with a model's
// add_bos/add_eos (the tokenizer adds these tokens, so the template's own copies would double them). On failure the
// shim's error is set and the status returned.
enum mr_status render_chat(const mr_chat_templates & templates, const common_chat_templates_inputs & inputs, common_chat_params & params) {
    try {
        params = common_chat_templates_apply(templates.templates.get(), inputs);
    } catch (const std::bad_alloc &) {
        throw;
    } catch (const std::exception & e) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "the chat template failed to render: %s", one_line(e.what()).c_str());
    }
    std::string & prompt = params.prompt;
    if (templates.strip_bos && prompt.compare(0, templates.bos.size(), templates.bos) == 0) {
        prompt.erase(0, templates.bos.size());
    }
    if (templates.strip_eos && prompt.size() >= templates.eos.size() &&
        prompt.compare(prompt.size() - templates.eos.size(), templates.eos.size(), templates.eos) == 0) {
        prompt.erase(prompt.size() - templates.eos.size());
    }
    if (prompt.find('\0') != std::string::npos) {
        // A \u0000 in a message: the C string handed back would end there without a word.
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "the rendered chat contains a NUL character (\\u0000 in a message)");
    }
    return MR_STATUS_OK;
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

struct llama_sampler * mr_sampler_init_grammar_gate(struct llama_sampler * grammar, struct llama_sampler * chain) {
    if (grammar == nullptr || chain == nullptr) {
        llama_sampler_free(grammar);
        llama_sampler_free(chain);
        mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_sampler_init_grammar_gate: grammar and chain are both required");
        return nullptr;
    }
    try {
        return llama_sampler_init(&gate_iface, new grammar_gate { grammar, chain, {} });
    } catch (...) {
        llama_sampler_free(grammar);
        llama_sampler_free(chain);
        mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_sampler_init_grammar_gate: out of memory");
        return nullptr;
    }
}

enum mr_status mr_chat_templates_init(const struct llama_model * model, const char * template_text,
                                      const char * bos_token, const char * eos_token, bool strip_bos,
                                      bool strip_eos, struct mr_chat_templates ** out_templates) {
    if (out_templates == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_templates_init: out_templates is NULL");
    }
    *out_templates = nullptr;
    const bool has_text = template_text != nullptr && template_text[0] != '\0';
    if (!has_text && model == nullptr) {
        // common_chat_templates_init asserts (aborts the process) on this: refuse it here.
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_templates_init: neither a template text nor a model");
    }
    try {
        auto handle = std::make_unique<mr_chat_templates>();
        handle->bos = bos_token != nullptr ? bos_token : "";
        handle->eos = eos_token != nullptr ? eos_token : "";
        // With a model, llama.cpp reads BOS/EOS and add_bos/add_eos from its vocabulary and strips itself.
        handle->strip_bos = model == nullptr && strip_bos && !handle->bos.empty();
        handle->strip_eos = model == nullptr && strip_eos && !handle->eos.empty();
        try {
            handle->templates = common_chat_templates_init(model, has_text ? template_text : "", handle->bos, handle->eos);
        } catch (const std::bad_alloc &) {
            throw;
        } catch (const std::exception & e) {
            // common_chat_templates_init rethrows with `throw e;`, which slices the parser's error to a bare
            // std::exception ("std::exception"): parse the text once more here to recover the parser's own message.
            std::string why = e.what();
            if (has_text) {
                try {
                    common_chat_template again(template_text, handle->bos, handle->eos);
                } catch (const std::bad_alloc &) {
                    throw;
                } catch (const std::exception & parse_error) {
                    why = parse_error.what();
                }
            }
            return mr_fail(MR_STATUS_INVALID_ARGUMENT, "the chat template does not parse as Jinja: %s", one_line(why).c_str());
        }
        *out_templates = handle.release();
        mr_clear_error();
        return MR_STATUS_OK;
    } catch (const std::bad_alloc &) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_chat_templates_init: out of memory");
    } catch (const std::exception & e) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_templates_init: %s", one_line(e.what()).c_str());
    } catch (...) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_templates_init: unknown C++ exception");
    }
}

enum mr_status mr_chat_apply(const struct mr_chat_templates * templates, const char * messages_json,
                             const char * tools_json, const char * kwargs_json, bool add_generation_prompt,
                             char ** out_prompt, char ** out_grammar) {
    if (out_prompt == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_apply: out_prompt is NULL");
    }
    *out_prompt = nullptr;
    if (out_grammar != nullptr) {
        *out_grammar = nullptr;
    }
    if (templates == nullptr || messages_json == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_apply: templates and messages_json are required");
    }
    try {
        common_chat_templates_inputs inputs;
        inputs.use_jinja = true;
        inputs.add_generation_prompt = add_generation_prompt;
        try {
            inputs.messages = common_chat_msgs_parse_oaicompat(common_json::parse(messages_json));
            if (tools_json != nullptr && tools_json[0] != '\0') {
                inputs.tools = common_chat_tools_parse_oaicompat(common_json::parse(tools_json));
            }
            if (kwargs_json != nullptr && kwargs_json[0] != '\0' && !add_template_kwargs(common_json::parse(kwargs_json), inputs)) {
                return mr_fail(MR_STATUS_INVALID_ARGUMENT, "chat template kwargs must be a JSON object");
            }
        } catch (const std::bad_alloc &) {
            throw;
        } catch (const std::exception & e) {
            return mr_fail(MR_STATUS_INVALID_ARGUMENT, "the chat messages are not valid: %s", one_line(e.what()).c_str());
        }

        common_chat_params params;
        const auto status = render_chat(*templates, inputs, params);
        if (status != MR_STATUS_OK) {
            return status;
        }
        char * text = copy_out(params.prompt);
        char * grammar = nullptr;
        if (text != nullptr && out_grammar != nullptr && !params.grammar.empty()) {
            grammar = copy_out(params.grammar);
            if (grammar == nullptr) {
                std::free(text);
                text = nullptr;
            }
        }
        if (text == nullptr) {
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_chat_apply: could not allocate the prompt");
        }
        *out_prompt = text;
        if (out_grammar != nullptr) {
            *out_grammar = grammar;
        }
        mr_clear_error();
        return MR_STATUS_OK;
    } catch (const std::bad_alloc &) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_chat_apply: out of memory");
    } catch (const std::exception & e) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_apply: %s", one_line(e.what()).c_str());
    } catch (...) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_apply: unknown C++ exception");
    }
}

enum mr_status mr_chat_render(const struct mr_chat_templates * templates, const char * request_json, char ** out_json) {
    if (out_json == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_render: out_json is NULL");
    }
    *out_json = nullptr;
    if (templates == nullptr || request_json == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_render: templates and request_json are required");
    }
    try {
        common_chat_templates_inputs inputs;
        inputs.use_jinja = true;
        try {
            const auto request = common_json::parse(request_json);
            if (!request.is_object() || !request.contains("messages")) {
                return mr_fail(MR_STATUS_INVALID_ARGUMENT, "the chat request must be a JSON object with messages");
            }
            inputs.messages = common_chat_msgs_parse_oaicompat(request.at("messages"));
            if (request.contains("tools") && !request.at("tools").is_null()) {
                inputs.tools = common_chat_tools_parse_oaicompat(request.at("tools"));
            }
            if (request.contains("tool_choice") && !request.at("tool_choice").is_null()) {
                inputs.tool_choice = common_chat_tool_choice_parse_oaicompat(request.at("tool_choice").get<std::string>());
            }
            inputs.parallel_tool_calls = request.value("parallel_tool_calls", false);
            inputs.add_generation_prompt = request.value("add_generation_prompt", true);
            if (request.contains("chat_template_kwargs") && !request.at("chat_template_kwargs").is_null() &&
                !add_template_kwargs(request.at("chat_template_kwargs"), inputs)) {
                return mr_fail(MR_STATUS_INVALID_ARGUMENT, "chat template kwargs must be a JSON object");
            }
        } catch (const std::bad_alloc &) {
            throw;
        } catch (const std::exception & e) {
            return mr_fail(MR_STATUS_INVALID_ARGUMENT, "the chat request is not valid: %s", one_line(e.what()).c_str());
        }

        common_chat_params params;
        const auto status = render_chat(*templates, inputs, params);
        if (status != MR_STATUS_OK) {
            return status;
        }

        common_json out = {
            { "prompt", params.prompt },
            { "format", common_chat_format_name(params.format) },
            { "grammar", params.grammar.empty() ? common_json(nullptr) : common_json(params.grammar) },
            { "grammar_lazy", params.grammar_lazy },
            { "grammar_trigger_patterns", trigger_patterns(params.grammar_triggers) },
            // common_grammar_needs_prefill: a tool-call grammar that is not lazy starts at the generation prompt.
            { "grammar_prefill", !params.grammar.empty() && !params.grammar_lazy && !inputs.tools.empty() },
            { "generation_prompt", params.generation_prompt },
            { "preserved_tokens", params.preserved_tokens },
            { "additional_stops", params.additional_stops },
            { "parser", params.parser },
        };
        char * text = copy_out(out.dump_safe());
        if (text == nullptr) {
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_chat_render: could not allocate the result");
        }
        *out_json = text;
        mr_clear_error();
        return MR_STATUS_OK;
    } catch (const std::bad_alloc &) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_chat_render: out of memory");
    } catch (const std::exception & e) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_render: %s", one_line(e.what()).c_str());
    } catch (...) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_render: unknown C++ exception");
    }
}

struct llama_sampler * mr_sampler_init_chat_grammar(const struct llama_vocab * vocab, const char * grammar, bool lazy,
                                                    const char * const * trigger_patterns, int32_t trigger_pattern_count,
                                                    const char * prefill) {
    if (vocab == nullptr || grammar == nullptr || trigger_pattern_count < 0 || (trigger_pattern_count > 0 && trigger_patterns == nullptr)) {
        mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_sampler_init_chat_grammar: a vocabulary, a grammar and valid trigger patterns are required");
        return nullptr;
    }
    if (lazy && trigger_pattern_count == 0) {
        mr_fail(MR_STATUS_INVALID_ARGUMENT, "a lazy grammar needs at least one trigger");
        return nullptr;
    }
    llama_sampler * sampler = nullptr;
    try {
        sampler = lazy
            ? llama_sampler_init_grammar_lazy_patterns(vocab, grammar, "root", const_cast<const char **>(trigger_patterns),
                                                       static_cast<size_t>(trigger_pattern_count), nullptr, 0)
            : llama_sampler_init_grammar(vocab, grammar, "root");
        if (sampler == nullptr) {
            mr_fail(MR_STATUS_INVALID_ARGUMENT, "the chat format's grammar does not compile for this model's vocabulary");
            return nullptr;
        }
        if (prefill != nullptr && prefill[0] != '\0') {
            // As common_sampler_init: the template already wrote these tokens, so the grammar starts after them.
            const std::string text = prefill;
            const auto tokens = common_tokenize(vocab, text, /*add_special=*/false, /*parse_special=*/true);
            for (size_t i = 0; i < tokens.size(); i++) {
                const std::string piece = common_token_to_piece(vocab, tokens[i], true);
                if (i == 0 && !piece.empty() && std::isspace(static_cast<unsigned char>(piece[0])) &&
                    !std::isspace(static_cast<unsigned char>(text[0]))) {
                    continue; // a tokenizer that puts a space before the first special token
                }
                llama_sampler_accept(sampler, tokens[i]);
            }
        }
        mr_clear_error();
        return sampler;
    } catch (const std::bad_alloc &) {
        llama_sampler_free(sampler);
        mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_sampler_init_chat_grammar: out of memory");
    } catch (const std::exception & e) {
        llama_sampler_free(sampler);
        mr_fail(MR_STATUS_INVALID_ARGUMENT, "the chat format's grammar cannot start after the generation prompt: %s", one_line(e.what()).c_str());
    } catch (...) {
        llama_sampler_free(sampler);
        mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_sampler_init_chat_grammar: unknown C++ exception");
    }
    return nullptr;
}

enum mr_status mr_chat_parser_init(const char * format, const char * parser, const char * generation_prompt,
                                   struct mr_chat_parser ** out_parser) {
    if (out_parser == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_parser_init: out_parser is NULL");
    }
    *out_parser = nullptr;
    if (format == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_parser_init: format is required");
    }
    try {
        auto handle = std::make_unique<mr_chat_parser>();
        handle->params.format = format_from_name(format);
        handle->params.generation_prompt = generation_prompt != nullptr ? generation_prompt : "";
        if (parser != nullptr && parser[0] != '\0') {
            handle->params.parser.load(parser);
        }
        *out_parser = handle.release();
        mr_clear_error();
        return MR_STATUS_OK;
    } catch (const std::bad_alloc &) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_chat_parser_init: out of memory");
    } catch (const std::exception & e) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_parser_init: %s", one_line(e.what()).c_str());
    } catch (...) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_parser_init: unknown C++ exception");
    }
}

enum mr_status mr_chat_parser_update(struct mr_chat_parser * parser, const char * text, size_t length, bool is_final,
                                     char ** out_json) {
    if (out_json == nullptr) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_parser_update: out_json is NULL");
    }
    *out_json = nullptr;
    if (parser == nullptr || (text == nullptr && length > 0)) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_parser_update: parser (and text when length > 0) are required");
    }
    try {
        auto & p = *parser;
        p.text.append(text != nullptr ? text : "", length);
        common_json out = common_json::object();
        common_json deltas = common_json::array(); // into `out` at the end: a reference into it would not survive new keys
        const common_chat_msg previous = p.message;
        try {
            common_chat_msg parsed = common_chat_parse(p.text, !is_final, p.params);
            if (!parsed.empty()) {
                parsed.set_tool_call_ids(p.call_ids, [&p] { return new_tool_call_id(p.random); });
                p.message = std::move(parsed);
                emit_diffs(p, previous, is_final, deltas);
            }
            if (is_final) {
                // The parser is lenient: an output cut inside a call (max_tokens) still yields the call, with the
                // arguments it had. They went out as they are (OpenAI does the same with finish_reason "length"); say so.
                for (const auto & call : p.message.tool_calls) {
                    if (common_json::parse_no_throw(call.arguments.empty() ? std::string("{}") : call.arguments).is_discarded()) {
                        out["error"] = "the output ended inside tool call '" + call.name + "': its arguments are not complete JSON";
                        break;
                    }
                }
            }
        } catch (const std::bad_alloc &) {
            throw;
        } catch (const std::exception & e) {
            if (is_final) {
                // The finished output does not match the format: what was not sent goes out as plain content.
                // (A partial output the format cannot read yet waits for more text: nothing to send.)
                out["error"] = one_line(e.what());
                const std::string rest = p.text.compare(0, p.sent_content.size(), p.sent_content) == 0
                    ? p.text.substr(p.sent_content.size()) : p.text;
                add_content(deltas, "content", rest);
            }
        }
        out["deltas"] = deltas;
        out["tool_calls"] = p.message.tool_calls.size();
        char * json = copy_out(out.dump_safe());
        if (json == nullptr) {
            return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_chat_parser_update: could not allocate the result");
        }
        *out_json = json;
        mr_clear_error();
        return MR_STATUS_OK;
    } catch (const std::bad_alloc &) {
        return mr_fail(MR_STATUS_OUT_OF_MEMORY, "mr_chat_parser_update: out of memory");
    } catch (const std::exception & e) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_parser_update: %s", one_line(e.what()).c_str());
    } catch (...) {
        return mr_fail(MR_STATUS_INVALID_ARGUMENT, "mr_chat_parser_update: unknown C++ exception");
    }
}

void mr_chat_parser_free(struct mr_chat_parser * parser) {
    delete parser;
}

void mr_chat_templates_free(struct mr_chat_templates * templates) {
    delete templates;
}

void mr_common_string_free(char * text) {
    std::free(text);
}

} // extern "C"
