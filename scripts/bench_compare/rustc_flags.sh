#!/usr/bin/env bash
# The rustc flag trade-off for runtime variants (issue 18), not part of CI: the wrapper sources
# `mephisto compile` generates for a one-oscillator program and Faust's zitaRev, compiled with
# each flag set RUNS times interleaved (median CPU seconds of rustc and its linker), and the
# resulting DSP's time per sample (best of three runs of variant_speed.c). Each flag set
# first builds the wrapper's prelude (the crate every variant links) with the same flags,
# outside the timing, as `mephisto compile` does once per toolchain.
#   usage: scripts/bench_compare/rustc_flags.sh [RUNS (default 5)]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nice -n 10 cargo build --release -q -p mephisto-cli --bin mephisto
cc -O2 scripts/bench_compare/variant_speed.c -o "$work/variant_speed" -ldl
rustc=$(rustc --print sysroot)/bin/rustc
cp scripts/bench_compare/small.dsp "$work/small.dsp"
for program in "$work/small.dsp" /usr/share/faust/examples/reverb/zitaRev.dsp; do
    name=$(basename "$program" .dsp)
    MEPHISTO_CACHE_DIR="$work/cache-$name" target/release/mephisto compile "$program" > /dev/null
    cp "$work"/cache-"$name"/[0-9a-f]*/wrapper.rs "$work/$name.rs"
done
cp "$work"/cache-small/prelude/[0-9a-f]*/prelude.rs "$work/prelude.rs"
lib=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/lib
common="--edition 2021 -C panic=unwind -C debuginfo=0 --cap-lints allow"
base="--crate-type cdylib $common -C strip=symbols"
sets=(
    "-C opt-level=3"
    "-C opt-level=3 -C target-cpu=native"
    "-C opt-level=2 -C lto=off -C target-cpu=native"
    "-C opt-level=2 -C target-cpu=native -C prefer-dynamic -C link-args=-Wl,-rpath,$lib"
    "-C opt-level=2 -C lto=off -C target-cpu=native -C prefer-dynamic -C link-args=-Wl,-rpath,$lib"
    "-C opt-level=2 -C codegen-units=1 -C target-cpu=native -C prefer-dynamic -C link-args=-Wl,-rpath,$lib"
)
for i in "${!sets[@]}"; do
    mkdir -p "$work/prelude-$i"
    # shellcheck disable=SC2086
    "$rustc" --crate-type rlib --crate-name mephisto_prelude $common ${sets[$i]} \
        -o "$work/prelude-$i/libmephisto_prelude.rlib" "$work/prelude.rs"
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for name in small zitaRev; do
    for _ in $(seq "$runs"); do
        for i in "${!sets[@]}"; do
            # shellcheck disable=SC2086
            /usr/bin/time -f "%U %S" -o "$work/t" "$rustc" $base ${sets[$i]} \
                --extern mephisto_prelude="$work/prelude-$i/libmephisto_prelude.rlib" \
                -o "$work/$name-$i.so" "$work/$name.rs"
            echo "$name $i $(awk '{print $1 + $2}' "$work/t")" >> "$work/times"
        done
    done
done
echo "| flags | small: CPU s | small: ns/sample | zitaRev: CPU s | zitaRev: ns/sample |"
echo "| --- | --- | --- | --- | --- |"
for i in "${!sets[@]}"; do
    row="| \`${sets[$i]//-C link-args=-Wl,-rpath,$lib/rpath}\`"
    for name in small zitaRev; do
        cpu=$(grep "^$name $i " "$work/times" | cut -d' ' -f3 | median)
        ns=$(for _ in 1 2 3; do "$work/variant_speed" "$work/$name-$i.so" 1; done | sort -g | head -1)
        row="$row | $cpu | $ns"
    done
    echo "$row |"
done
echo "($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uptime | sed 's/.*load average/load average/'), $("$rustc" --version))"
