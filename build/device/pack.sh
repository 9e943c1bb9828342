#!/usr/bin/env bash
# Packs what the GPU machine needs into artifacts/device/ (ignored by git), for build/device/gpu-run.sh.
#
#   build/device/pack.sh [--no-cli] [--models DIR]
#
# The GPU machine has nvcc, CMake and ninja but no .NET, no git guarantee and no network, so we carry:
#   artifacts/device/llama-src.tar.gz  the pinned llama.cpp source, trimmed to what the CUDA build needs
#                                      (plus the two tokenizer GGUFs `modelrouter forge` uses), about 12 MB
#   artifacts/device/cli/              a self-contained, trimmed linux-x64 publish of `modelrouter`
#                                      (no native libraries: gpu-run.sh points it at the CUDA build)
#   artifacts/device/models/           small GGUFs for the C swap test (../shared/models/stories260K.gguf
#                                      when present, or every *.gguf of --models DIR)
# and then print the exact `run` invocation (docs/benchmarks.md, "How to reproduce on a GPU").
# Everything that travels (working tree + carried paths) must stay under 64 MiB; this script checks.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*" >&2; }

with_cli=1
models_dir=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-cli) with_cli=0 ;;
        --models) [[ $# -ge 2 ]] || die "--models needs a directory"; models_dir="$2"; shift ;;
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

out="artifacts/device"
mkdir -p "$out"
# Never carry the state or results of a local trial of gpu-run.sh.
rm -rf "$out/state" "$out/out"

# 1. The pinned llama.cpp source, trimmed. Kept: everything CMake reads with tools/tests/examples off
#    (top level, cmake/, ggml/, src/, include/, vendor/, common/, licenses), and the tokenizer GGUFs the
#    forge presets default to. Dropped: docs, tools, tests, examples, most vocab files, CI, media (the
#    full checkout is about 175 MB, over the 64 MiB the run tool carries).
step "packing the pinned llama.cpp source (trimmed) into $out/llama-src.tar.gz"
src="$(build/llama-source.sh)"
commit="$(grep '^LLAMA_COMMIT=' native/llama.cpp.lock | cut -d= -f2)"
keep=(CMakeLists.txt CMakePresets.json cmake ggml src include vendor common LICENSE licenses
      models/ggml-vocab-llama-bpe.gguf models/ggml-vocab-qwen2.gguf)
present=()
for p in "${keep[@]}"; do
    [[ -e "$src/$p" ]] && present+=("$p")
done
for required in CMakeLists.txt cmake ggml src include vendor; do
    [[ -e "$src/$required" ]] || die "the llama.cpp source at $src has no $required"
done
printf '%s\n' "$commit" > "$out/llama-src.commit"
tar -C "$src" --exclude=.git --exclude='*.o' -czf "$out/llama-src.tar.gz.tmp" "${present[@]}"
mv "$out/llama-src.tar.gz.tmp" "$out/llama-src.tar.gz"

# 2. The CLI, self-contained and trimmed (NativeAOT's runtime pack is not served here). NativeFlavor=none
#    keeps the CPU libraries out: on the GPU machine MODELROUTER_NATIVE_DIR points at the CUDA build.
if [[ $with_cli -eq 1 ]]; then
    command -v dotnet >/dev/null || die "dotnet is needed to publish the CLI (or pass --no-cli: the GPU run then does the C tests only)."
    step "publishing modelrouter (linux-x64, self-contained, trimmed) into $out/cli"
    rm -rf "$out/cli"
    dotnet publish src/ModelRouter.Cli/ModelRouter.Cli.csproj -c Release -r linux-x64 --self-contained \
        -p:PublishTrimmed=true -p:NativeFlavor=none -p:DebugType=none -nologo -v quiet -clp:ErrorsOnly \
        -o "$out/cli" >&2 || die "dotnet publish of the CLI failed (see above)."
    [[ -x "$out/cli/modelrouter" ]] || die "the publish has no $out/cli/modelrouter"
    rm -f "$out"/cli/lib{llama,ggml,ggml-base,ggml-cpu,ggml-cuda,mr_shim}.so "$out"/cli/mr_probe "$out"/cli/mr_layout_probe
else
    rm -rf "$out/cli"
fi

# 3. Models for the C swap test.
rm -rf "$out/models"
mkdir -p "$out/models"
if [[ -n "$models_dir" ]]; then
    cp "$models_dir"/*.gguf "$out/models/" 2>/dev/null || die "no *.gguf in $models_dir"
elif [[ -f ../shared/models/stories260K.gguf ]]; then
    cp ../shared/models/stories260K.gguf "$out/models/"
fi

# 4. Size: the working tree (tracked and untracked-not-ignored files) plus what is carried.
tree_bytes=0
while IFS= read -r -d '' f; do
    [[ -f "$f" ]] && tree_bytes=$((tree_bytes + $(stat -c %s "$f")))
done < <(git ls-files -z --cached --others --exclude-standard)
carry_bytes="$(du -sb "$out" | cut -f1)"
total=$((tree_bytes + carry_bytes))
limit=$((64 * 1024 * 1024))
awk -v t="$tree_bytes" -v c="$carry_bytes" -v o="$out" \
    'BEGIN { printf "working tree %.1f MiB + %s %.1f MiB = %.1f MiB (limit 64 MiB)\n", t / 1048576, o, c / 1048576, (t + c) / 1048576 }' >&2
[[ $total -lt $limit ]] || die "what would travel is over 64 MiB: try --no-cli, or fewer/smaller --models."

{
    printf 'packed %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'llama.cpp %s\n' "$commit"
    printf 'cli %s\n' "$([[ $with_cli -eq 1 ]] && echo yes || echo no)"
    printf 'models %s\n' "$(cd "$out/models" && ls | tr '\n' ' ')"
    printf 'bytes %s\n' "$carry_bytes"
} > "$out/MANIFEST"

cat >&2 <<'TEXT'

Ready. On the GPU machine, through the device tool (see docs/benchmarks.md, "How to reproduce on a GPU"):

  run  command: bash build/device/gpu-run.sh
       carry:   ["artifacts/device"]
       timeout_s: 600

It exits 0 when everything ran (results in $OUT: summary.md, swap.csv, gpu-run.log, bench-swap/), or 75
when the CUDA build or the benchmarks are still running in the background: then call it again at once
with the same arguments (the machine stays warm only about 30 s between calls).
TEXT
