#!/usr/bin/env python3
"""Writes the reference prompts CommonChatTemplatesTests compares against. Run from the repository root:

    python3 tests/ModelRouter.Runtime.Tests/Chat/TestData/make_references.py [LLAMA_CPP_DIR]

Two independent sources, neither of them our code nor llama.cpp's common layer run by us:
1. llama-cpp-test-cases.json: the cases of llama.cpp's own tests/test-chat-template.cpp (main_automated_tests), copied
   verbatim: template, bos/eos texts and the prompt llama.cpp's test asserts its common layer renders
   (expected_output_jinja, or expected_output where that is empty), with the line of each case in that file.
2. jinja2-references.json: real templates of models/templates/*.jinja rendered by Python's jinja2 set up as Hugging Face
   transformers renders chat templates (trim_blocks, lstrip_blocks, loopcontrols, raise_exception, tojson), the
   reference implementation of these templates.
"""
import json, os, re, sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

LLAMA = sys.argv[1] if len(sys.argv) > 1 else "native/llama.cpp"
HERE = os.path.dirname(os.path.abspath(__file__))


def c_unescape(body):
    out, i = [], 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    while i < len(body):
        c = body[i]
        if c == "\\":
            out.append(simple[body[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def field(line):
    """The string of a `/* .field= */ "..."` or `U8C("...")` line (adjacent literals concatenated)."""
    value = line.split("*/", 1)[1]
    return "".join(c_unescape(m) for m in LITERAL.findall(value))


def llama_cases():
    path = os.path.join(LLAMA, "tests/test-chat-template.cpp")
    lines = open(path, encoding="utf-8").read().split("\n")
    cases, current = [], None
    for number, line in enumerate(lines, 1):
        s = line.strip()
        if s.startswith("/* .name= */"):
            current = {"name": field(s), "line": number, "bos": "", "eos": "", "jinja": True, "extra": False}
            cases.append(current)
        elif current is None:
            continue
        elif s.startswith("/* .template_str"):
            current["template"] = field(s)
        elif s.startswith("/* .expected_output= */"):
            current["expected_legacy"] = field(s)
        elif s.startswith("/* .expected_output_jinja= */"):
            current["expected_jinja"] = field(s)
        elif s.startswith("/* .bos_token= */"):
            current["bos"] = field(s)
        elif s.startswith("/* .eos_token= */"):
            current["eos"] = field(s)
        elif s.startswith("/* .supported_with_jinja= */"):
            current["jinja"] = "true" in s
        elif s.startswith("/* .extra_conversation= */"):
            current["extra"] = True
    result = []
    for c in cases:
        if not c["jinja"] or c["extra"]:
            continue
        result.append({
            "name": c["name"],
            "source": f"llama.cpp tests/test-chat-template.cpp:{c['line']}",
            "template": c["template"],
            "bos": c["bos"],
            "eos": c["eos"],
            "expected": c["expected_jinja"] or c["expected_legacy"],
        })
    return result


CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you"},
]

# file, bos, eos, whether the template accepts a system message, extra variables (fixed so the reference is stable)
TEMPLATES = [
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", True, {"date_string": "26 Jul 2024"}),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", True, {"date_string": "26 Jul 2024"}),
    ("meta-llama-Llama-3.3-70B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", True, {"date_string": "26 Jul 2024"}),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>", True, {}),
    ("google-gemma-2-2b-it.jinja", "<bos>", "<eos>", False, {}),
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>", True, {}),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", True, {}),
    ("microsoft-Phi-3.5-mini-instruct.jinja", "<s>", "<|endoftext|>", True, {}),
]


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def jinja2_references():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    result = []
    for name, bos, eos, system, extra in TEMPLATES:
        text = open(os.path.join(LLAMA, "models/templates", name), encoding="utf-8").read()
        messages = CONVERSATION if system else CONVERSATION[1:]
        for add_generation_prompt in (True, False):
            # enable_thinking: llama.cpp's common layer always passes it (true unless asked otherwise, chat.cpp's
            # common_chat_template_direct_apply_impl), as Hugging Face's apply_chat_template passes its kwargs.
            variables = {"messages": messages, "bos_token": bos, "eos_token": eos, "add_generation_prompt": add_generation_prompt,
                         "enable_thinking": True}
            variables.update(extra)
            result.append({
                "file": name,
                "bos": bos,
                "eos": eos,
                "system": system,
                "addGenerationPrompt": add_generation_prompt,
                "kwargs": extra,
                "expected": env.from_string(text).render(**variables),
            })
    return result


# An agent's turn as Hugging Face passes it to templates: tools in OpenAI's shape, the assistant's call with its
# arguments as an object (the OpenAI request carries them as JSON text; llama.cpp's layer turns that into an object
# for templates that index it), then the tool's result.
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather forecast for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city"},
                         "days": {"type": "integer"}}, "required": ["city"]}}}]
TOOL_CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
     "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"},
]

TOOL_TEMPLATES = [
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>", {}),
    ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>", {}),
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", {"date_string": "26 Jul 2024"}),
    ("Qwen3-Coder.jinja", "", "<|im_end|>", {}),
    ("ibm-granite-granite-4.0.jinja", "", "<|end_of_text|>", {}),
]


def jinja2_tool_references():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    result = []
    for name, bos, eos, extra in TOOL_TEMPLATES:
        text = open(os.path.join(LLAMA, "models/templates", name), encoding="utf-8").read()
        variables = {"messages": TOOL_CONVERSATION, "tools": TOOLS, "bos_token": bos, "eos_token": eos,
                     "add_generation_prompt": True, "enable_thinking": True}
        variables.update(extra)
        result.append({"file": name, "bos": bos, "eos": eos, "kwargs": extra,
                       "expected": env.from_string(text).render(**variables)})
    return result


def write(name, value):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


write("llama-cpp-test-cases.json", llama_cases())
write("jinja2-references.json", {"jinja2": jinja2.__version__, "conversation": CONVERSATION, "cases": jinja2_references()})
write("jinja2-tool-references.json", {"jinja2": jinja2.__version__, "tools": TOOLS, "conversation": TOOL_CONVERSATION,
                                      "cases": jinja2_tool_references()})
