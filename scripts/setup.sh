#!/usr/bin/env bash
# Installs what Mephisto needs on a fresh Debian 12 machine; safe to run again.
#   faust   – the Faust compiler (regenerating built-in patches, the correctness oracle)
#   g++     – builds the oracle's C++ reference renderer
#   sox     – audio inspection in the docs and scripts
#   libasound2-dev, libjack-jackd2-dev, pkg-config – the standalone build (ALSA/JACK)
#   timgm6mb-soundfont – real instrument recordings (an oboe) the CLAP host test plays into
#                        Mephisto FX; read where Debian installs it, never copied
set -euo pipefail

source "$(dirname "$0")/debian_packages.sh"
ensure_debian_packages faust g++ sox pkg-config libasound2-dev libjack-jackd2-dev timgm6mb-soundfont

command -v cargo >/dev/null || { echo "setup: Rust is missing; install it from https://rustup.rs" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
echo "setup: ok"
