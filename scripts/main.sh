#!/usr/bin/env bash
# The main job: set up, build the plugin bundles (CLAP, VST3, the standalone app, each with
# the ONNX Runtime library of the venv's onnxruntime wheel) and the command-line tool in
# release mode, design a patch from a prompt with the offline designer (PatchSpec in
# out/demo.json), and render it playing a chord to out/demo.wav.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The bundles carry ONNX Runtime: only its wheel is needed here (scripts/test.sh installs
# the rest of the Python environment).
bash scripts/setup_python.sh --runtime-only >/dev/null
cargo xtask bundle mephisto --release
cargo build --release -p mephisto-cli --bin mephisto
mkdir -p out
PROMPT="${PROMPT:-dark detuned bass that growls when I push the mod wheel}"
./target/release/mephisto design "$PROMPT" --out out/demo.json
./target/release/mephisto render --patch out/demo.json --notes "C2:1,G2:1@0.5,C3:1.5@1" --out out/demo.wav
ls -l target/bundled out/demo.json out/demo.wav
