#!/usr/bin/env bash
# Installs what Mephisto needs on a fresh Debian 12 machine; safe to run again.
#   faust   – the Faust compiler (regenerating built-in patches, the correctness oracle)
#   g++     – builds the oracle's C++ reference renderer
#   sox     – audio inspection in the docs and scripts
#   libasound2-dev, libjack-jackd2-dev, pkg-config – the standalone build (ALSA/JACK)
set -euo pipefail

packages=(faust g++ sox pkg-config libasound2-dev libjack-jackd2-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: Rust is missing; install it from https://rustup.rs" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
echo "setup: ok"
