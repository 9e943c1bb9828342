# Shared by build/llama-source.sh and build/glove-source.sh (sourced, not run): read a lock file, fetch the pinned npm
# tarball with `npm pack` into a cache, and check the registry's SRI integrity. The caller defines die() and note()
# and sets lock_file before sourcing; every function stops with the cause and the fix on any mismatch.

# The value of KEY= in the lock file.
lock_value() {
    local v
    v="$(grep -E "^$1=" "$lock_file" | head -n1 | cut -d= -f2-)"
    [[ -n "$v" ]] || die "$lock_file has no $1= line; restore it from git."
    printf '%s' "$v"
}

# SRI integrity ("sha512-<base64>") of a file, computed the way npm does.
sri_of() {
    node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

# pinned_tarball PACKAGE VERSION INTEGRITY CACHE_DIR SIZE_HINT FIX_HINT -> prints the verified tarball's path.
# A cached tarball is reused when its integrity matches; otherwise it is fetched again. A mismatch after fetching
# removes the tarball and stops (the registry served something else than the pin).
pinned_tarball() {
    local package="$1" version="$2" integrity="$3" cache="$4" size_hint="$5" fix_hint="$6"
    command -v npm >/dev/null || die "npm is needed to fetch $package (apt-get install nodejs npm)."
    command -v node >/dev/null || die "node is needed to check $package's integrity (apt-get install nodejs)."
    mkdir -p "$cache"
    local tarball="$cache/$package-$version.tgz"
    if [[ -f "$tarball" && "$(sri_of "$tarball")" != "$integrity" ]]; then
        note "cached tarball $tarball does not match the pinned integrity; fetching it again"
        rm -f "$tarball"
    fi
    if [[ ! -f "$tarball" ]]; then
        note "fetching $package@$version with npm pack ($size_hint)"
        local tmp got
        tmp="$(mktemp -d "$cache/pack.XXXXXX")"
        if ! (cd "$tmp" && npm pack "$package@$version" --silent >/dev/null 2>"$tmp/npm.log"); then
            cat "$tmp/npm.log" >&2 || true
            rm -rf "$tmp"
            die "npm pack $package@$version failed (see npm's message above). Check the npm registry is reachable$fix_hint."
        fi
        got="$(ls "$tmp"/*.tgz 2>/dev/null | head -n1)"
        [[ -n "$got" ]] || { rm -rf "$tmp"; die "npm pack produced no tarball for $package@$version."; }
        mv "$got" "$tarball"
        rm -rf "$tmp"
    fi
    local actual
    actual="$(sri_of "$tarball")"
    if [[ "$actual" != "$integrity" ]]; then
        rm -f "$tarball"
        die "integrity mismatch for $package@$version:
  expected $integrity (${lock_file#"$repo_root"/})
  actual   $actual
The registry served a different tarball than the one pinned. Do not edit the lock to silence this unless
you mean to move the pin."
    fi
    printf '%s\n' "$tarball"
}
