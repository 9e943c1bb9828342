#!/usr/bin/env bash
# The multi-user study of docs/study.md, from a built tree (./build.sh build): every policy on the built-in H100 PCIe
# Gen5 estimate, on mixed multi-user traces (Zipf popularity, sticky sessions, diurnal shift), at three loads, three
# seeds, 4/6/8 models, a bursty trace, the load sweep, and the one-million-request scale run (timed).
# Everything lands in OUT (default artifacts/study): one folder per run (summary.json, results.md/.csv, SVG plots)
# and study.md, the tables collated in the order docs/study.md quotes them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-artifacts/study}"
cli=(dotnet run --project src/ModelRouter.Cli -c Release --no-build --)
mkdir -p "$out"
report="$out/study.md"
: > "$report"

run() { # name, then simulate's options
    local name="$1"; shift
    printf '[study] %s: simulate %s\n' "$name" "$*" >&2
    "${cli[@]}" simulate --out "$out/$name" "$@" > "$out/$name.log"
    { printf '## %s\n\n`modelrouter simulate %s`\n\n' "$name" "$*"; cat "$out/$name/results.md"; printf '\n'; } >> "$report"
}

for rate in 0.5 1 2; do
    run "6-models-rate-$rate" --models 6 --requests 3000 --rate "$rate"
done
for seed in 1 2 3; do
    run "6-models-rate-0.5-seed-$seed" --models 6 --requests 3000 --rate 0.5 --seed "$seed"
done
run "4-models-rate-0.5" --models 4 --requests 3000 --rate 0.5
run "8-models-rate-0.5" --models 8 --requests 3000 --rate 0.5
run "6-models-bursty-0.5" --models 6 --requests 3000 --rate 0.5 --bursty
run "sweep" --models 6 --requests 400 --rate 0.5 --sweep

printf '[study] scale: one million requests\n' >&2
start=$SECONDS
run "million" --models 6 --requests 1000000 --rate 0.5
printf '\none million requests, all five policies: %s s wall on this machine (%s cores)\n' "$((SECONDS - start))" "$(nproc)" | tee -a "$report" >&2
printf 'wrote %s\n' "$report" >&2
