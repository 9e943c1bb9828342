#!/usr/bin/env bash
# The one-command GPU run (issue 4, item 8): builds llama.cpp + our shim with CUDA for Hopper on the GPU
# machine, then runs mr_probe, the host-to-device bandwidth reference, the C swap test
# (native/shim/tests/mr_swap_test.c) and, when the carried tree has the self-contained CLI,
# `modelrouter forge` + `modelrouter bench-swap`. Results land in $OUT.
#
# Prepare here with build/device/pack.sh, then call through the device tool, from the repo root:
#
#   run  command: bash build/device/gpu-run.sh      carry: ["artifacts/device"]      timeout_s: 600
#
# The CUDA build takes minutes and a call may run only 10, so the work runs in the background (its own
# process session, which outlives the call while the machine stays warm) and this script polls it for
# up to MR_GPU_RUN_BUDGET seconds (default 540). On a machine where the pipeline already finished,
# `--again` reruns the phases that failed or never ran, `--fresh` starts over. Exit codes: 0 everything ran and passed; 1 something
# failed (see summary.md / gpu-run.log); 75 still running: call again AT ONCE with the same arguments
# (the machine is given back about 30 s after a call returns, and everything on it is lost).
#
# Environment (optional): MR_GPU_PRESETS (forge presets, default "qwen2.5-0.5b llama-3.2-1b llama-3.1-8b"),
# MR_GPU_FORGE_TYPE (default q4_0), MR_GPU_CYCLES (default 5), MR_GPU_RUN_BUDGET, MR_JOBS.
# The GPU machine has nvcc, CMake and ninja but no .NET and no network; this script needs neither.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
cd "$repo_root"

device_dir="$repo_root/artifacts/device"
state="$device_dir/state"
phases="$state/phases"
# State from another machine or boot (a carried or stale folder) says nothing about this one.
boot_id="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || hostname)"
if [[ "${1:-}" != "--pipeline" && -d "$state" && ( "${1:-}" == "--fresh" || "$(cat "$state/boot_id" 2>/dev/null)" != "$boot_id" ) ]]; then
    rm -rf "$state"
fi
mkdir -p "$phases"
echo "$boot_id" > "$state/boot_id"
OUT="${OUT:-$device_dir/out}"
mkdir -p "$OUT"

log() { printf '[gpu-run %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# ---------------------------------------------------------------------------------------------------
# the pipeline (background)

native_out="$repo_root/artifacts/native/cuda"
cli="$device_dir/cli/modelrouter"
models_dir="$state/models"
presets="${MR_GPU_PRESETS:-qwen2.5-0.5b llama-3.2-1b llama-3.1-8b}"
forge_type="${MR_GPU_FORGE_TYPE:-q4_0}"
cycles="${MR_GPU_CYCLES:-5}"

phase_done() { [[ -f "$phases/$1.done" ]]; }
mark_done() { date -u +%s > "$phases/$1.done"; }
mark_failed() { echo "$1" >> "$state/failed"; log "phase $1 FAILED"; }
set_phase() { echo "$1" > "$state/phase"; log "phase: $1"; }

find_cuda() {
    local nvcc_path
    nvcc_path="$(command -v nvcc 2>/dev/null || true)"
    if [[ -z "$nvcc_path" ]]; then
        for d in /usr/local/cuda/bin /usr/local/cuda-*/bin /opt/cuda/bin; do
            [[ -x "$d/nvcc" ]] && { nvcc_path="$d/nvcc"; break; }
        done
    fi
    [[ -n "$nvcc_path" ]] || return 1
    export CUDACXX="$nvcc_path"
    local root
    root="$(cd "$(dirname "$nvcc_path")/.." && pwd)"
    export CUDAToolkit_ROOT="$root"
    export PATH="$root/bin:$PATH"
    # Our libraries carry only $ORIGIN as rpath: the toolkit's and the driver's libraries must be findable.
    local extra=""
    for d in "$root/lib64" "$root/targets/x86_64-linux/lib" /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu; do
        [[ -d "$d" ]] && extra="$extra:$d"
    done
    export LD_LIBRARY_PATH="${extra#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

phase_facts() {
    set_phase facts
    {
        echo "## machine"
        echo '```'
        uname -a
        echo "cores: $(nproc)"
        free -g | head -2
        df -h /dev/shm /tmp 2>/dev/null
        echo
        nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current,pcie.link.gen.max \
            --format=csv 2>&1 || echo "nvidia-smi failed"
        echo
        "${CUDACXX:-nvcc}" --version 2>&1 | tail -n 2
        cmake --version | head -n 1
        echo "ninja $(ninja --version 2>/dev/null || echo absent)"
        echo '```'
    } > "$state/facts.md"
    mark_done facts
}

phase_source() {
    set_phase source
    local dest="$repo_root/native/llama.cpp"
    if [[ -f "$dest/include/llama.h" && -f "$dest/ggml/include/ggml.h" ]]; then
        log "llama.cpp source present at native/llama.cpp"
    elif [[ -f "$device_dir/llama-src.tar.gz" ]]; then
        log "unpacking the carried llama.cpp source ($(cat "$device_dir/llama-src.commit" 2>/dev/null || echo '?'))"
        rm -rf "$dest" && mkdir -p "$dest" && tar -xzf "$device_dir/llama-src.tar.gz" -C "$dest" || return 1
    else
        log "no llama.cpp source: run build/device/pack.sh here and carry artifacts/device"
        return 1
    fi
    mark_done source
}

phase_build() {
    set_phase build
    local bdir="$repo_root/artifacts/cmake/cuda"
    local gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    local start=$SECONDS
    log "configuring (CUDA ${CUDACXX}, sm_90)"
    cmake -S . -B "$bdir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DLLAMA_CPP_DIR="$repo_root/native/llama.cpp" -DMR_OUTPUT_DIR="$native_out" \
        -DMR_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real -DCMAKE_CUDA_COMPILER="$CUDACXX" || return 1
    log "building with ${MR_JOBS:-$(nproc)} jobs"
    cmake --build "$bdir" --parallel "${MR_JOBS:-$(nproc)}" || return 1
    local seconds=$((SECONDS - start))
    echo "$seconds" > "$state/build.seconds"
    for f in libllama.so libggml-cuda.so libllama-common.so libmr_shim.so libmr_common.so mr_probe mr_swap_test; do
        [[ -e "$native_out/$f" ]] || { log "the build finished without $f"; return 1; }
    done
    log "CUDA build done in ${seconds}s"
    mark_done build
}

phase_probe() {
    set_phase probe
    "$native_out/mr_probe" > "$state/probe.txt" 2>&1
    local rc=$?
    cat "$state/probe.txt"
    [[ $rc -eq 0 ]] && mark_done probe
    return $rc
}

phase_bandwidth() {
    set_phase bandwidth
    "$native_out/mr_swap_test" bandwidth --gib 4 > "$state/bandwidth.txt" 2>&1
    local rc=$?
    cat "$state/bandwidth.txt"
    [[ $rc -eq 0 ]] && mark_done bandwidth
    return $rc
}

# /dev/shm when it has room (tmpfs: registration of the file mapping is reliable), else /tmp.
cache_dir() {
    local avail
    avail="$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -n 1 | tr -d ' ')"
    if [[ -n "$avail" && "$avail" -gt $((16 * 1024 * 1024 * 1024)) && -w /dev/shm ]]; then
        echo /dev/shm
    else
        echo /tmp
    fi
}

swap_test() {
    local model="$1" name
    name="$(basename "$model" .gguf)"
    log "C swap test: $name"
    "$native_out/mr_swap_test" swap --model "$model" --cycles "$cycles" --csv "$state/swap.csv" \
        --cache "$(cache_dir)/mr_swap_test.img" 2>&1 | tee "$state/swap-$name.txt"
    return "${PIPESTATUS[0]}"
}

phase_swap_carried() {
    set_phase swap-carried
    local rc=0 m found=0
    for m in "$device_dir"/models/*.gguf; do
        [[ -f "$m" ]] || continue
        found=1
        swap_test "$m" || rc=1
    done
    [[ $found -eq 1 ]] || log "no carried model under artifacts/device/models (pack.sh copies ../shared/models/stories260K.gguf)"
    [[ $rc -eq 0 ]] && mark_done swap-carried
    return $rc
}

have_cli() {
    [[ -f "$cli" ]] || return 1
    [[ -x "$cli" ]] || chmod +x "$cli" 2>/dev/null
    MODELROUTER_NATIVE_DIR="$native_out" "$cli" --version >/dev/null 2>&1
}

phase_forge() {
    set_phase forge
    mkdir -p "$models_dir"
    local p rc=0
    for p in $presets; do
        local f="$models_dir/$p-$forge_type.gguf"
        [[ -f "$f" ]] && continue
        log "forging $p ($forge_type)"
        LLAMA_CPP_DIR="$repo_root/native/llama.cpp" "$cli" forge --preset "$p" --type "$forge_type" --out "$f.tmp" \
            && mv "$f.tmp" "$f" || { rc=1; rm -f "$f.tmp"; }
    done
    [[ $rc -eq 0 ]] && mark_done forge
    return $rc
}

phase_swap_forged() {
    set_phase swap-forged
    local p rc=0
    for p in $presets; do
        local f="$models_dir/$p-$forge_type.gguf"
        [[ -f "$f" ]] && { swap_test "$f" || rc=1; }
    done
    [[ $rc -eq 0 ]] && mark_done swap-forged
    return $rc
}

phase_bench_swap() {
    set_phase bench-swap
    local args=() p
    for p in $presets; do
        local f="$models_dir/$p-$forge_type.gguf"
        [[ -f "$f" ]] && args+=(--model "$f")
    done
    [[ ${#args[@]} -gt 0 ]] || { log "no forged model for bench-swap"; return 1; }
    rm -rf "$state/bench-swap"
    mkdir -p "$state/bench-swap"
    "$cli" bench-swap "${args[@]}" --cycles "$cycles" --out "$state/bench-swap" 2>&1 | tee "$state/bench-swap.txt"
    local rc=${PIPESTATUS[0]}
    [[ $rc -eq 0 ]] && mark_done bench-swap
    return $rc
}

write_summary() {
    local s="$state/summary.md"
    {
        echo "# GPU run — $(date -u +%Y-%m-%d) — $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)"
        echo
        echo "Command: \`bash build/device/gpu-run.sh\` (carry \`artifacts/device\`), llama.cpp $(cat "$device_dir/llama-src.commit" 2>/dev/null || echo '?')."
        echo "CUDA build (llama.cpp + shim, sm_90, $(nproc) cores): $(cat "$state/build.seconds" 2>/dev/null || echo '?') s."
        [[ -s "$state/failed" ]] && echo "**Failed phases:** $(tr '\n' ' ' < "$state/failed")"
        echo
        cat "$state/facts.md" 2>/dev/null
        echo
        echo "## mr_probe"
        echo '```'
        cat "$state/probe.txt" 2>/dev/null
        echo '```'
        echo
        echo "## Host-to-device bandwidth (physical reference)"
        echo '```'
        grep -v '^RESULT' "$state/bandwidth.txt" 2>/dev/null
        echo '```'
        echo
        echo "## C swap test (mr_swap_test swap, medians of $cycles cycles)"
        if [[ -f "$state/swap.csv" ]]; then
            echo
            echo "| model | weights MiB | chunk MiB | streams | pinned file | evict ms | restore ms | restore GB/s | raw GB/s | ratio | ready ms | llama.cpp reload mmap ms | none ms | tokens equal |"
            echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            tail -n +2 "$state/swap.csv" | awk -F, '{ printf "| %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $3 / 1048576, $4, $5, $6, $9, $10, $11, $12, $13, $15, $16, $17, $18 }'
        else
            echo "(no results)"
        fi
        for f in "$state"/swap-*.txt; do
            [[ -f "$f" ]] || continue
            echo
            echo "### $(basename "$f" .txt)"
            echo '```'
            grep -v '^RESULT' "$f"
            echo '```'
        done
        if [[ -f "$state/bench-swap/bench-swap.md" ]]; then
            echo
            echo "## modelrouter bench-swap"
            echo
            cat "$state/bench-swap/bench-swap.md"
        elif have_cli; then
            echo
            echo "## modelrouter bench-swap"
            echo
            echo "(no bench-swap.md; see gpu-run.log)"
        else
            echo
            echo "(no self-contained CLI carried: forge and bench-swap skipped; run build/device/pack.sh with dotnet)"
        fi
    } > "$s"
}

run_pipeline() {
    log "pipeline started (pid $$)"
    rm -f "$state/failed"
    export MODELROUTER_NATIVE_DIR="$native_out" LLAMA_CPP_DIR="$repo_root/native/llama.cpp"
    find_cuda || { log "nvcc not found (PATH, /usr/local/cuda*/bin)"; mark_failed build; return 1; }
    phase_done facts || phase_facts
    phase_done source || phase_source || { mark_failed source; return 1; }
    phase_done build || phase_build || { mark_failed build; return 1; }
    phase_done probe || phase_probe || mark_failed probe
    phase_done bandwidth || phase_bandwidth || mark_failed bandwidth
    phase_done swap-carried || phase_swap_carried || mark_failed swap-carried
    if have_cli; then
        phase_done forge || phase_forge || mark_failed forge
        phase_done swap-forged || phase_swap_forged || mark_failed swap-forged
        phase_done bench-swap || phase_bench_swap || mark_failed bench-swap
    else
        log "no runnable self-contained CLI at artifacts/device/cli: forge and bench-swap skipped"
    fi
    [[ -s "$state/failed" ]] && return 1
    return 0
}

if [[ "${1:-}" == "--pipeline" ]]; then
    run_pipeline
    rc=$?
    write_summary
    echo "$rc" > "$state/pipeline.rc"
    set_phase finished
    log "pipeline finished (rc $rc)"
    exit "$rc"
fi

# ---------------------------------------------------------------------------------------------------
# the driver (foreground): start or find the pipeline, poll it, hand results back

budget="${MR_GPU_RUN_BUDGET:-540}"
start=$SECONDS

running() { [[ -f "$state/pipeline.pid" ]] && kill -0 "$(cat "$state/pipeline.pid")" 2>/dev/null; }

case "${1:-}" in
    "" | --fresh) ;;
    --again) running || rm -f "$state/pipeline.rc" ;; # rerun what failed or never ran; done phases are kept
    *) echo "usage: bash build/device/gpu-run.sh [--again | --fresh]" >&2; exit 2 ;;
esac

collect() {
    [[ -f "$state/pipeline.log" ]] && tail -c $((15 * 1024 * 1024)) "$state/pipeline.log" > "$OUT/gpu-run.log"
    [[ -f "$state/summary.md" ]] && cp "$state/summary.md" "$OUT/summary.md"
    [[ -f "$state/swap.csv" ]] && cp "$state/swap.csv" "$OUT/swap.csv"
    if [[ -d "$state/bench-swap" ]] && ls "$state/bench-swap"/* >/dev/null 2>&1; then
        local n
        n="$(find "$state/bench-swap" -maxdepth 1 -type f | wc -l)"
        if [[ $n -le 5 ]]; then
            mkdir -p "$OUT/bench-swap"
            cp "$state"/bench-swap/* "$OUT/bench-swap/" 2>/dev/null
        else
            tar -czf "$OUT/bench-swap.tar.gz" -C "$state" bench-swap
        fi
    fi
}

if [[ -f "$state/pipeline.rc" ]] && ! running; then
    log "the pipeline already finished on this machine"
else
    if ! running; then
        rm -f "$state/pipeline.rc"
        log "starting the pipeline in the background (log: artifacts/device/state/pipeline.log)"
        if command -v setsid >/dev/null; then
            setsid bash "$self" --pipeline > "$state/pipeline.log" 2>&1 < /dev/null &
        else
            python3 -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' \
                bash "$self" --pipeline > "$state/pipeline.log" 2>&1 < /dev/null &
        fi
        echo $! > "$state/pipeline.pid"
    else
        log "the pipeline is running (phase $(cat "$state/phase" 2>/dev/null)); polling"
    fi
    last_phase=""
    while running && (( SECONDS - start < budget )); do
        sleep 5
        phase="$(cat "$state/phase" 2>/dev/null || true)"
        if [[ "$phase" != "$last_phase" ]]; then
            log "phase: $phase"
            last_phase="$phase"
        fi
    done
fi

collect
if running || [[ ! -f "$state/pipeline.rc" ]]; then
    log "still running after ${budget}s (phase $(cat "$state/phase" 2>/dev/null)); last log lines:"
    tail -n 15 "$state/pipeline.log" 2>/dev/null
    log "CALL AGAIN NOW with the same command and carry: the machine is given back ~30 s after this call returns."
    exit 75
fi
rc="$(cat "$state/pipeline.rc")"
cat "$state/summary.md" 2>/dev/null
log "done (rc $rc); results in \$OUT: $(cd "$OUT" && find . -type f | sed 's|^\./||' | tr '\n' ' ')"
exit "$rc"
