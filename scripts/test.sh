#!/usr/bin/env bash
# The test suite CI runs: generated code up to date, formatting, lints, then every test,
# including the host test that loads the bundled CLAP built with `assert_process_allocs`
# (any allocation inside process() aborts it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=never
# CI builds a fresh clone once, so incremental caches (2.3 GB of target/) buy it nothing.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== generated Faust code is current"
cargo xtask faust --check
echo "== formatting"
cargo fmt --all --check
echo "== clippy"
cargo clippy --workspace --all-targets --features mephisto/assert_process_allocs -- -D warnings
echo "== debug bundle with assert_process_allocs"
cargo xtask bundle mephisto --features assert_process_allocs
echo "== standalone starts (dummy audio backend)"
cargo build -p mephisto --features standalone --bin mephisto-standalone
status=0
timeout 3 ./target/debug/mephisto-standalone --backend dummy >/dev/null 2>&1 || status=$?
[ "$status" -eq 124 ] || { echo "the standalone exited early (status $status)" >&2; exit 1; }
echo "== neural voice (Python): smoke training, ONNX export and parity"
python=$(bash scripts/setup_python.sh)
# The training data is rendered by the command line; the dev build (optimised, see
# Cargo.toml) spares CI a release build.
cargo build --workspace --features mephisto/assert_process_allocs --bin mephisto
MEPHISTO_BIN=target/debug/mephisto "$python" onnx/train.py --smoke
# Every processor of the synthesis graph and every shipped model against PyTorch.
for parity in onnx/testdata/*.json; do "$python" onnx/parity.py --check "$parity"; done
"$python" -m unittest discover -s onnx/tests
echo "== tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --features mephisto/assert_process_allocs 2>&1 | tee "$log"
# One closing line for the whole run (cargo's last line is the doc-tests' own summary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
