#!/usr/bin/env bash
# Benchmarks that pair (issue 18), not part of CI: prints two tables and, with --write,
# puts them into docs/BENCHMARKS.md between the `bench-compare` markers.
#
#   1. Cold `mephisto compile` (release CLI, a fresh variant cache each run: the command's own
#      `total`) against libfaust's LLVM JIT (Debian's libfaust2, `createDSPFactoryFromString`
#      plus the first instance, timed in-process by scripts/bench_compare/faust_jit.cpp), on a
#      one-oscillator program and Faust's zitaRev, interleaved run by run.
#   2. Each built-in voice as the plugin plays it (crates/dsp/examples/voice_speed.rs, release)
#      against the same source through Faust's C++ backend at `g++ -O3`
#      (scripts/bench_compare/voice_speed.cpp), interleaved, one voice, note held, RUNS runs
#      of SECONDS of audio each (30 s of audio is 45-225 ms of wall time; runs of 1 s of
#      audio, a few ms, are mostly noise); the ratio is of the fastest runs.
#
# The cold compiles start from an empty variant cache holding only the compilers' identity
# records and the wrapper's prelude (the state of a machine that has compiled before, for a
# program it has not); the first-ever compile also asks the compilers their versions
# (`toolchain` stage, ≈ 0.1 s) and builds the prelude beside Faust (≈ 0.2 s, once).
# `BENCH_PARTS=compile` or `BENCH_PARTS=voices` runs one half.
#
#   usage: scripts/bench_compare.sh [--write] [RUNS (default 7)] [SECONDS of audio per voice run (default 10)]
set -euo pipefail
cd "$(dirname "$0")/.."
write=0
[ "${1:-}" = --write ] && { write=1; shift; }
runs=${1:-7} seconds=${2:-10}

source scripts/debian_packages.sh
ensure_debian_packages faust faust-common libfaust2 g++ bc

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nice_cargo() { nice -n 10 cargo "$@"; }
nice_cargo build --release -q -p mephisto-cli --bin mephisto
nice_cargo build --release -q -p mephisto-dsp --example voice_speed
bin=target/release/mephisto
voice_rs=target/release/examples/voice_speed
g++ -O2 -std=c++17 scripts/bench_compare/faust_jit.cpp -o "$work/faust_jit" -lfaust

# Other work on the machine only ever slows a run down, so the voices compare their fastest
# runs; the medians show the spread.
fastest() { sort -g | head -1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# 1. Code to sound.
cp scripts/bench_compare/small.dsp "$work/small.dsp"
programs=("$work/small.dsp" /usr/share/faust/examples/reverb/zitaRev.dsp)
parts=${BENCH_PARTS:-all}
seed=$(mktemp -d)
MEPHISTO_CACHE_DIR=$seed "$bin" compile "$work/small.dsp" > /dev/null
for _ in $(seq "$runs"); do
    [ "$parts" = voices ] && break
    for program in "${programs[@]}"; do
        name=$(basename "$program")
        cache=$(mktemp -d)
        cp -r "$seed"/.toolchain-* "$seed"/prelude "$cache"/
        out=$(MEPHISTO_CACHE_DIR=$cache "$bin" compile "$program")
        echo "$name cold $(grep -o 'total [0-9.]* ms' <<< "$out" | cut -d' ' -f2)" >> "$work/compile"
        out=$(MEPHISTO_CACHE_DIR=$cache "$bin" compile "$program")
        echo "$name hit $(grep -o 'total [0-9.]* ms' <<< "$out" | cut -d' ' -f2)" >> "$work/compile"
        rm -rf "$cache"
        echo "$name jit $("$work/faust_jit" "$program" | cut -d' ' -f2)" >> "$work/compile"
    done
done
[ "$parts" = voices ] || {
    echo "| program | runs | mephisto compile, cold: median ms | cache hit: median ms | libfaust JIT: median ms | cold / JIT |"
    echo "| --- | --- | --- | --- | --- | --- |"
    for program in "${programs[@]}"; do
        name=$(basename "$program")
        cold=$(grep "^$name cold " "$work/compile" | cut -d' ' -f3 | median)
        hit=$(grep "^$name hit " "$work/compile" | cut -d' ' -f3 | median)
        jit=$(grep "^$name jit " "$work/compile" | cut -d' ' -f3 | median)
        echo "| $name | $runs | $cold | $hit | $jit | $(ratio "$cold" "$jit") |"
    done
} > "$work/table1"

rm -rf "$seed"

# 2. Built-in voices against g++ -O3.
for dsp in faust/patches/*.dsp; do
    [ "$parts" = compile ] && break
    patch=$(basename "$dsp" .dsp)
    mkdir -p "$work/$patch"
    faust -lang cpp -I faust -cn MephistoVoice -o "$work/$patch/voice.h" "$dsp"
    g++ -O3 -std=c++17 -I"$work/$patch" scripts/bench_compare/voice_speed.cpp -o "$work/$patch/voice_speed"
done
for _ in $(seq "$runs"); do
    [ "$parts" = compile ] && break
    for dsp in faust/patches/*.dsp; do
        patch=$(basename "$dsp" .dsp)
        echo "$patch rust $("$voice_rs" "$seconds" "$patch" | cut -d' ' -f2)" >> "$work/voices"
        echo "$patch cpp $("$work/$patch/voice_speed" "$seconds" | cut -d' ' -f1)" >> "$work/voices"
    done
done
touch "$work/table1" "$work/table2"
[ "$parts" = compile ] || {
    echo "| patch | Rust ns/sample: fastest of $runs (median) | g++ -O3 ns/sample: fastest of $runs (median) | Rust / C++ (fastest) |"
    echo "| --- | --- | --- | --- |"
    for dsp in faust/patches/*.dsp; do
        patch=$(basename "$dsp" .dsp)
        rust=$(grep "^$patch rust " "$work/voices" | cut -d' ' -f3 | fastest)
        cpp=$(grep "^$patch cpp " "$work/voices" | cut -d' ' -f3 | fastest)
        rust_median=$(grep "^$patch rust " "$work/voices" | cut -d' ' -f3 | median)
        cpp_median=$(grep "^$patch cpp " "$work/voices" | cut -d' ' -f3 | median)
        echo "| $patch | $rust ($rust_median) | $cpp ($cpp_median) | $(ratio "$rust" "$cpp") |"
    done
} > "$work/table2"
# The geometric mean over the table's ratio column.
gm=$(sed -n '3,$p' "$work/table2" | awk -F'|' '$5 + 0 > 0 {s += log($5); n++; if ($5 + 0 > m) {m = $5 + 0; w = $2}} END {if (n) printf "geometric mean Rust / C++ %.3f over %d patches; highest %.2f (%s)", exp(s / n), n, m, w}')

stamp="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uptime | sed 's/.*load average/load average/'), $(faust --version | head -1), $(rustc --version)"
report=$(printf '%s\n\n%s\n\n%s\n\n%s\n' "Measured $stamp; \`scripts/bench_compare.sh $runs $seconds\`." "$(cat "$work/table1")" "$(cat "$work/table2")" "$gm")
echo "$report"
if [ "$write" = 1 ]; then
    python3 - "$report" <<'PY'
import sys, re
path = "docs/BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- bench-compare: begin -->", "<!-- bench-compare: end -->"
block = f"{begin}\n{sys.argv[1]}\n{end}"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text += f"\n{block}\n"
open(path, "w").write(text)
PY
fi
