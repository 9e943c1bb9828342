#!/usr/bin/env python3
"""Builds data/routing/*.jsonl: extra labelled prompts for the task classifier, from public, licensed sources.

Every row keeps its provenance (repo@commit, path, licence, the source's own category and the mapping to our
label), in the same shape as ../shared/routing-data. Deterministic: the same sources and --seed give the same
files byte for byte.

Sources (fetch these repositories at these commits; pass their git directories):
  --math   aiwaves-cn/agents @ e8c4e3c2d19739d3dff59e577d1c97090cc15f59
           src/agents/datasets/data/math/train/**: the MATH dataset's training split (Hendrycks et al. 2021, MIT)
  --gsm8k  openai/grade-school-math @ 3101c7d5072418e28b9008a6636bde82a006892c
           grade_school_math/data/train.jsonl (MIT)
  --llama  ggml-org/llama.cpp @ de3ff815ea7d559ee917f063901b8986f038abc6 (MIT; the project's pinned copy in
           native/llama.cpp, see native/llama.cpp.lock): code pasted into requests

Usage:
  python3 scripts/routing-data/build_rows.py --math DIR --gsm8k DIR --llama DIR [--out data/routing] [--seed 17]

Never used, by rule (they are the hidden evaluation): MT-Bench, Arena-Hard(-Auto), Chatbot Arena, LMSYS-Chat,
or anything derived from them.
"""

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys

MATH_COMMIT = "e8c4e3c2d19739d3dff59e577d1c97090cc15f59"
GSM8K_COMMIT = "3101c7d5072418e28b9008a6636bde82a006892c"
LLAMA_COMMIT = "de3ff815ea7d559ee917f063901b8986f038abc6"

MATH_LICENCE = "MIT (MATH dataset, Hendrycks et al. 2021; mirrored in aiwaves-cn/agents, Apache-2.0)"
GSM8K_LICENCE = "MIT (openai/grade-school-math)"
LLAMA_LICENCE = "MIT (ggml-org/llama.cpp); prompt templates written by this project"

# How many rows each file gets: enough to teach the shape (LaTeX, pasted code) without drowning Dolly's labels.
MATH_ROWS = 2400
GSM8K_ROWS = 900
CODE_ROWS = 1800


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True).stdout


def tree(repo, commit, under):
    out = git(repo, "ls-tree", "-r", "--name-only", commit, "--", under).decode()
    return sorted(p for p in out.splitlines() if p)


def read_many(repo, commit, paths):
    """Reads many blobs with one git cat-file --batch."""
    request = "".join(f"{commit}:{p}\n" for p in paths).encode()
    out = subprocess.run(["git", "-C", repo, "cat-file", "--batch"], input=request, check=True, capture_output=True).stdout
    blobs, pos = [], 0
    for path in paths:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        if header[-1] == b"missing":
            raise SystemExit(f"{repo}: {commit}:{path} is missing")
        size = int(header[2])
        blobs.append(out[header_end + 1:header_end + 1 + size])
        pos = header_end + 1 + size + 1
    return blobs


def check_not_lfs(path, data):
    if data.startswith(b"version https://git-lfs"):
        raise SystemExit(f"{path} is a Git LFS pointer, not the data; fetch the real file")


def row_id(prefix, text):
    return prefix + "-" + hashlib.sha1(text.encode()).hexdigest()[:12]


def row(prefix, text, label, category, dataset, repo, path, commit, licence, mapping, augmentation=None):
    r = {
        "id": row_id(prefix, text),
        "text": text,
        "label": label,
        "source_category": category,
        "source_dataset": dataset,
        "source": {"repo": repo, "path": path, "commit": commit},
        "licence": licence,
        "mapping": mapping,
    }
    if augmentation:
        r["augmentation"] = augmentation
    return r


# --- math: competition problems with LaTeX, some wrapped in conversation -------------------------------------

MATH_OPENERS = [
    "", "", "", "",
    "Can you help me with this problem? ",
    "I'm stuck on this one from my homework:\n\n",
    "Solve the following. Show your steps.\n\n",
    "Hi! I've been trying this for an hour and keep getting a different answer each time.\n\n",
    "Here's a competition problem I'm practising with:\n\n",
    "Problem:\n",
    "Please solve step by step and put the final answer in \\boxed{}.\n\n",
    "My teacher gave us this and I have no idea where to start:\n",
]
MATH_CLOSERS = [
    "", "", "", "",
    "\n\nPlease explain your reasoning.",
    "\n\nI got a different answer from the book, can you check?",
    "\n\nWhat's the trick here?",
    "\n\nShow all work.",
    " Thanks!",
    "\n\nCan you also explain why this method works?",
]


def math_rows(repo, rng):
    base = "src/agents/datasets/data/math/train"
    paths = [p for p in tree(repo, MATH_COMMIT, base) if p.endswith(".json")]
    rng.shuffle(paths)
    paths = sorted(paths[:MATH_ROWS])
    rows = []
    for path, blob in zip(paths, read_many(repo, MATH_COMMIT, paths)):
        check_not_lfs(path, blob)
        item = json.loads(blob)
        problem = item["problem"].strip()
        opener, closer = rng.choice(MATH_OPENERS), rng.choice(MATH_CLOSERS)
        text = opener + problem + closer
        aug = "conversational framing (scripts/routing-data/build_rows.py MATH_OPENERS/MATH_CLOSERS)" if opener or closer else None
        rows.append(row("math", text, "math_reasoning", f"{item['type']} / {item['level']}", "MATH (train)", "aiwaves-cn/agents", path,
                        MATH_COMMIT, MATH_LICENCE, "every MATH problem -> math_reasoning", aug))
    return rows


def gsm8k_rows(repo, rng):
    path = "grade_school_math/data/train.jsonl"
    blob = read_many(repo, GSM8K_COMMIT, [path])[0]
    check_not_lfs(path, blob)
    items = [json.loads(l) for l in blob.decode().splitlines() if l.strip()]
    rng.shuffle(items)
    rows = []
    for item in items[:GSM8K_ROWS]:
        q = item["question"].strip()
        opener, closer = rng.choice(MATH_OPENERS[:10]), rng.choice(MATH_CLOSERS)
        text = opener + q + closer
        aug = "conversational framing (MATH_OPENERS/MATH_CLOSERS)" if opener or closer else None
        rows.append(row("gsm8k", text, "math_reasoning", "grade-school math word problem", "GSM8K (train)", "openai/grade-school-math",
                        path, GSM8K_COMMIT, GSM8K_LICENCE, "every GSM8K problem -> math_reasoning", aug))
    return rows


# --- code: real code pasted into a request -----------------------------------------------------------------

LANGS = {
    ".c": "c", ".h": "c", ".cpp": "cpp", ".hpp": "cpp", ".cu": "cuda", ".py": "python", ".ts": "typescript",
    ".js": "javascript", ".sh": "bash", ".swift": "swift", ".kt": "kotlin", ".cmake": "cmake", ".svelte": "svelte",
    ".go": "go", ".rs": "rust", ".java": "java", ".metal": "metal", ".glsl": "glsl", ".wgsl": "wgsl", ".comp": "glsl",
}
LANG_NAMES = {"c": "C", "cpp": "C++", "cuda": "CUDA", "python": "Python", "typescript": "TypeScript", "javascript": "JavaScript",
              "bash": "bash", "swift": "Swift", "kotlin": "Kotlin", "cmake": "CMake", "svelte": "Svelte", "go": "Go", "rust": "Rust",
              "java": "Java", "metal": "Metal", "glsl": "GLSL", "wgsl": "WGSL"}
OTHER_LANG = ["Rust", "Go", "Python", "Java", "C#", "TypeScript", "C++", "Kotlin"]

CODE_ASKS = [
    "Can you explain what this code does?",
    "What does this {lang} function do, line by line?",
    "Why does this crash with a segmentation fault sometimes?",
    "I'm getting a compile error on this. What's wrong?",
    "How can I make this faster?",
    "Please add error handling to this.",
    "Convert this to {other}.",
    "Rewrite this in {other}, keeping the same behaviour.",
    "Write unit tests for this.",
    "Review this code and point out any bugs.",
    "Refactor this so it's easier to read.",
    "Add comments explaining each step.",
    "Is there a memory leak or a race condition here?",
    "What is the time complexity of this?",
    "This works but feels clunky. How would an experienced {lang} developer write it?",
    "Can you find the off-by-one error in here?",
    "How do I call this from Python?",
    "I don't understand the part with the pointers. Can you walk me through it?",
    "Can you make this thread-safe?",
    "What would happen if the input is empty?",
    "Help me debug this: it returns the wrong result for large inputs.",
    "Document this function with a docstring / doc comment.",
    "Simplify this code.",
    "Why is this so slow on big files?",
    "Fix the bug in this code.",
    "Is this idiomatic {lang}? What would you change?",
]
CODE_OPENERS = [
    "", "", "", "Hi, ", "Hey! ", "Quick question. ", "I'm new to {lang}. ", "I'm working on a side project. ",
    "My coworker wrote this and left. ", "Here's some code from our repo. ",
]
CODE_CLOSERS = ["", "", "", " Thanks!", " Thanks in advance.", " Please keep it short.", " Explain like I'm a beginner.",
                " I need this for a code review tomorrow."]


def snippet(text, rng):
    lines = [l.rstrip() for l in text.splitlines()]
    if len(lines) < 8:
        return None
    for _ in range(12):
        size = rng.randint(6, 40)
        start = rng.randint(0, max(0, len(lines) - size))
        chunk = lines[start:start + size]
        body = [l for l in chunk if l.strip()]
        if len(body) < 5:
            continue
        comments = sum(1 for l in body if l.strip().startswith(("//", "#", "*", "/*")))
        if comments > len(body) / 2 or any(len(l) > 160 for l in chunk):
            continue
        if any(w in "\n".join(chunk).lower() for w in ("copyright", "license", "spdx")):
            continue
        return "\n".join(chunk).strip("\n")
    return None


def code_rows(repo, rng):
    paths = [p for p in tree(repo, LLAMA_COMMIT, ".") if os.path.splitext(p)[1] in LANGS and "vendor/" not in p and "test-data" not in p]
    rng.shuffle(paths)
    # Spread over languages: C++ alone is a third of the tree.
    by_lang = {}
    for p in paths:
        by_lang.setdefault(LANGS[os.path.splitext(p)[1]], []).append(p)
    picked = []
    while len(picked) < CODE_ROWS * 2 and any(by_lang.values()):
        for lang in sorted(by_lang):
            if by_lang[lang]:
                picked.append(by_lang[lang].pop())
    blobs = dict(zip(picked, read_many(repo, LLAMA_COMMIT, picked)))
    rows = []
    for path in picked:
        if len(rows) >= CODE_ROWS:
            break
        blob = blobs[path]
        check_not_lfs(path, blob)
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError:
            continue
        code = snippet(text, rng)
        if code is None:
            continue
        lang = LANGS[os.path.splitext(path)[1]]
        name = LANG_NAMES[lang]
        ask = rng.choice(CODE_ASKS).format(lang=name, other=rng.choice([o for o in OTHER_LANG if o != name]))
        opener = rng.choice(CODE_OPENERS).format(lang=name)
        closer = rng.choice(CODE_CLOSERS)
        fence = rng.random()
        if fence < 0.6:
            block = f"```{lang if rng.random() < 0.7 else ''}\n{code}\n```"
        elif fence < 0.8:
            block = code
        else:
            block = "\n".join("    " + l for l in code.splitlines())
        layout = rng.random()
        if layout < 0.45:
            prompt = f"{opener}{ask}{closer}\n\n{block}"
        elif layout < 0.8:
            prompt = f"{opener.strip() or 'Here is my code:'}\n\n{block}\n\n{ask}{closer}"
        else:
            prompt = f"{opener}{ask}\n{block}\n{closer.strip()}".strip()
        rows.append(row("code", prompt, "code", "source file (" + name + ")", "llama.cpp code pasted", "ggml-org/llama.cpp", path,
                        LLAMA_COMMIT, LLAMA_LICENCE, "code pasted with a programming request -> code",
                        "template: opener + request + pasted snippet (scripts/routing-data/build_rows.py CODE_*)"))
    return rows


def write(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} rows, {os.path.getsize(path):,} bytes", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--math", help="git dir of aiwaves-cn/agents")
    ap.add_argument("--gsm8k", help="git dir of openai/grade-school-math")
    ap.add_argument("--llama", help="git dir of llama.cpp (native/llama.cpp)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "routing"))
    ap.add_argument("--code-out", default=os.path.join(os.path.dirname(__file__), "..", "..", "artifacts", "routing-data"),
                    help="where the code rows go: they quote llama.cpp's source, which stays out of the repository, "
                         "so ./build.sh writes them from the fetched, verified tree into artifacts/ (gitignored)")
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    if not (args.math or args.gsm8k or args.llama):
        ap.error("give at least one of --math, --gsm8k, --llama")
    if args.math:
        os.makedirs(args.out, exist_ok=True)
        write(os.path.join(args.out, "math-competition.jsonl"), math_rows(args.math, random.Random(args.seed)))
    if args.gsm8k:
        os.makedirs(args.out, exist_ok=True)
        write(os.path.join(args.out, "gsm8k-train.jsonl"), gsm8k_rows(args.gsm8k, random.Random(args.seed + 1)))
    if args.llama:
        os.makedirs(args.code_out, exist_ok=True)
        write(os.path.join(args.code_out, "code-pasted.jsonl"), code_rows(args.llama, random.Random(args.seed + 2)))


if __name__ == "__main__":
    main()
