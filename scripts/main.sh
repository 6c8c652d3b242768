#!/usr/bin/env bash
# The main job: set up, build the plugin bundles (CLAP, VST3) and the command-line tool in
# release mode, and render a built-in patch to out/demo.wav.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo xtask bundle mephisto --release
cargo build --release -p mephisto --bin mephisto
mkdir -p out
./target/release/mephisto list
./target/release/mephisto render --patch "${PATCH:-warm_pad}" --notes "C3:2,E3:2@0.5,G3:2@1,C4:1.5@1.5" --out out/demo.wav
ls -l target/bundled out/demo.wav
