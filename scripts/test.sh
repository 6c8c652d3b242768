#!/usr/bin/env bash
# The test suite CI runs: generated code up to date, formatting, lints, the bundles (the
# standalone app must open its window and play), then every test, including the host test
# that loads the bundled CLAP built with `assert_process_allocs` (any allocation inside
# process() aborts it) and the fresh-machine check of the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=never
# CI builds a fresh clone once, so incremental caches (2.3 GB of target/) buy it nothing.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# First: the bundles carry the venv's ONNX Runtime.
python=$(bash scripts/setup_python.sh)

echo "== generated Faust code is current"
cargo xtask faust --check
echo "== formatting"
cargo fmt --all --check
echo "== clippy"
cargo clippy --workspace --all-targets --features mephisto/assert_process_allocs -- -D warnings
echo "== debug bundles with assert_process_allocs (CLAP, VST3, standalone app; ONNX Runtime and models inside)"
cargo xtask bundle mephisto --features assert_process_allocs
echo "== the standalone app opens its window and plays (dummy audio backend, Xvfb)"
bash scripts/standalone_check.sh target/bundled/Mephisto
echo "== neural voice (Python): smoke training, ONNX export and parity"
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
