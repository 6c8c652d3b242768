#!/usr/bin/env bash
# Cold-compile time of two `mephisto` builds, interleaved so that both see the same load:
# a one-oscillator program and Faust's zitaRev, each compiled into a fresh, empty variant
# cache, RUNS times. Prints the median wall time, the median CPU time (user + system of the
# command and its faust/rustc children: less sensitive to other work on the machine) and
# the median of the command's own `total` figure.
#   usage: scripts/compile_bench.sh BEFORE_BIN AFTER_BIN [RUNS]   (default 9)
set -euo pipefail
before=$1 after=$2 runs=${3:-9}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$(dirname "${BASH_SOURCE[0]}")/bench_compare/small.dsp" "$work/small.dsp"
programs=("$work/small.dsp" /usr/share/faust/examples/reverb/zitaRev.dsp)
for _ in $(seq "$runs"); do
    for program in "${programs[@]}"; do
        for which in before after; do
            bin=$before
            [ "$which" = after ] && bin=$after
            cache=$(mktemp -d)
            MEPHISTO_CACHE_DIR=$cache /usr/bin/time -f "TIME %e %U %S" "$bin" compile "$program" \
                > "$work/out" 2>&1
            read -r _ wall user sys < <(grep '^TIME' "$work/out")
            total=$(grep -o 'total [0-9.]* ms' "$work/out" | cut -d' ' -f2)
            echo "$which $(basename "$program") $wall $(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}') $total" >> "$work/runs"
            rm -rf "$cache"
        done
    done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "| program | build | runs | median wall s | median CPU s | median total ms |"
echo "| --- | --- | --- | --- | --- | --- |"
for program in "${programs[@]}"; do
    name=$(basename "$program")
    for which in before after; do
        rows=$(grep "^$which $name " "$work/runs")
        echo "| $name | $which | $runs | $(cut -d' ' -f3 <<< "$rows" | median) | $(cut -d' ' -f4 <<< "$rows" | median) | $(cut -d' ' -f5 <<< "$rows" | median) |"
    done
done
