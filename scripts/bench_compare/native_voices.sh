#!/usr/bin/env bash
# Would rebuilding the built-in patches for this machine's CPU pay? Each built-in voice as the
# plugin ships it (generic x86-64) against the same crate built with `-C target-cpu=native`
# (a separate target folder), interleaved, one voice, note held, RUNS runs of SECONDS of audio
# each; the ratio is of the fastest runs (other work only slows a run down). Not part of CI.
#
#   usage: scripts/bench_compare/native_voices.sh [RUNS (default 5)] [SECONDS of audio (default 30)]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5} seconds=${2:-30}
native_target=target/native-voices

nice -n 10 cargo build --release -q -p mephisto-dsp --example voice_speed
RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=$native_target \
    nice -n 10 cargo build --release -q -p mephisto-dsp --example voice_speed
generic=target/release/examples/voice_speed
native=$native_target/release/examples/voice_speed

times=$(mktemp)
trap 'rm -f "$times"' EXIT
patches=$(basename -s .dsp faust/patches/*.dsp)
for _ in $(seq "$runs"); do
    for patch in $patches; do
        echo "$patch generic $("$generic" "$seconds" "$patch" | cut -d' ' -f2)" >> "$times"
        echo "$patch native $("$native" "$seconds" "$patch" | cut -d' ' -f2)" >> "$times"
    done
done
fastest() { sort -g | head -1; }
echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); \`scripts/bench_compare/native_voices.sh $runs $seconds\`."
echo
echo "| patch | generic ns/sample (fastest of $runs) | native ns/sample | native / generic |"
echo "| --- | --- | --- | --- |"
for patch in $patches; do
    g=$(grep "^$patch generic " "$times" | cut -d' ' -f3 | fastest)
    n=$(grep "^$patch native " "$times" | cut -d' ' -f3 | fastest)
    echo "| $patch | $g | $n | $(awk -v a="$n" -v b="$g" 'BEGIN {printf "%.2f", a / b}') |"
done | tee "$times.table"
awk -F'|' '{s += log($5); n++} END {printf "\ngeometric mean native / generic %.3f over %d patches\n", exp(s / n), n}' "$times.table"
rm -f "$times.table"
