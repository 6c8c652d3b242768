#!/usr/bin/env bash
# The hostile-input suite with its slow cases (a program Faust works on until its 20 s
# limit, compile-time bombs, the longest render): prints the table docs/SECURITY.md shows.
# Takes a few minutes; CI runs the suite without the slow cases.
set -euo pipefail
cd "$(dirname "$0")/.."
MEPHISTO_HOSTILE_SLOW=1 nice -n 10 cargo test -p mephisto-cli --test hostile -- --nocapture 2>&1 \
    | grep -E '^\||^\[|test result'
