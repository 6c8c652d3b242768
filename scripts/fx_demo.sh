#!/usr/bin/env bash
# Mephisto FX on recordings nobody here made (espeak-ng speech, a real oboe from Debian's
# timgm6mb-soundfont) and on known-pitch inputs: pitch-following error, latency, CPU, and the
# spectrograms and graph picture of docs/NEURAL.md §10-11. Not part of CI (it builds the
# release CLI); its results are recorded in docs/NEURAL.md and docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian_packages.sh
ensure_debian_packages espeak-ng timgm6mb-soundfont
python=$(bash scripts/setup_python.sh)
nice -n 10 "$python" scripts/fx_demo.py "$@"
