#!/usr/bin/env bash
# Creates (once) the Python environment of onnx/ — PyTorch training, ONNX export and the
# onnxruntime library the plugin loads — and prints its python's path; safe to run again.
# The venv lives outside the repository (${MEPHISTO_VENV:-~/.cache/mephisto/venv}) so that
# every clone on the machine shares one multi-GB install. Requirements are installed only
# when the venv does not already satisfy onnx/requirements.txt, so a second run is fast.
#
#   bash scripts/setup_python.sh                 # everything onnx/ needs (torch: ~6.7 GB)
#   bash scripts/setup_python.sh --runtime-only  # only the onnxruntime wheel (~20 MB), the
#                                                # library `cargo xtask bundle` ships
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MEPHISTO_VENV:-$HOME/.cache/mephisto/venv}"
requirements="onnx/requirements.txt"
python="${PYTHON:-python3}"

command -v "$python" >/dev/null || { echo "setup_python: $python is missing" >&2; exit 1; }
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup_python: installing python3-venv" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
fi

# A venv left without pip (an interrupted first run) is made again.
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    "$python" -m venv --clear "$venv"
fi

# Only ONNX Runtime, at the version requirements.txt pins, unless the venv has it already.
if [ "${1:-}" = "--runtime-only" ]; then
    pin=$(grep -E '^onnxruntime==' "$requirements")
    if ! "$venv/bin/python" -m pip show --disable-pip-version-check onnxruntime 2>/dev/null |
        grep -qx "Version: ${pin#onnxruntime==}"; then
        echo "setup_python: installing $pin into $venv" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "$pin" >&2
    fi
    echo "$venv/bin/python"
    exit 0
fi

# The requirements' hash is stamped into the venv after a successful install: when it
# matches, nothing is asked of pip at all.
stamp="$venv/.mephisto-requirements"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup_python: installing $requirements into $venv (torch is large: minutes)" >&2
    # No wheel cache: the torch and nvidia wheels would keep another ~3 GB on disk.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
        -r "$requirements" >&2
    echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
