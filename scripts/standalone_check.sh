#!/usr/bin/env bash
# The bundled standalone app opens its window and plays: runs `target/bundled/Mephisto`
# (or $1) with the dummy audio backend on a virtual X display (Xvfb, software OpenGL), in
# a private HOME, once silent and once holding a chord on the window's keyboard
# (MEPHISTO_EDITOR_NOTES: the notes go through the same ring as mouse clicks on the keys,
# into process()). The dummy backend discards the audio, so what the app played is read off
# the window's oscilloscope: the trace (its green) must span many more pixel rows with the
# chord held than without. Also checks the app is the standalone, not the command line.
#
#   bash scripts/standalone_check.sh [APP]
#
# Debian packages: xvfb, x11-apps (xwd), x11-utils (xwininfo, xdpyinfo), imagemagick
# (convert), libgl1-mesa-dri (software OpenGL), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/debian_packages.sh
ensure_debian_packages xvfb x11-apps x11-utils imagemagick libgl1-mesa-dri python3

app="${1:-target/bundled/Mephisto}"
[ -x "$app" ] || { echo "standalone_check: $app is missing; run cargo xtask bundle mephisto" >&2; exit 1; }
"$app" --help 2>&1 | grep -q -- "--backend" ||
    { echo "standalone_check: $app is not the standalone app (no --backend option)" >&2; exit 1; }

scratch=$(mktemp -d)
xvfb_pid="" app_pid=""
cleanup() {
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

export DISPLAY=":${STANDALONE_DISPLAY:-94}"
export LIBGL_ALWAYS_SOFTWARE=1
Xvfb "$DISPLAY" -screen 0 1280x900x24 -nolisten tcp >"$scratch/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
xdpyinfo >/dev/null 2>&1 || { cat "$scratch/xvfb.log" >&2; echo "standalone_check: Xvfb did not start" >&2; exit 1; }

# run NAME [VAR=VALUE...]: starts the app, waits for its window, lets it play, saves a
# screenshot as NAME.ppm and closes it.
run() {
    local name=$1
    shift
    mkdir -p "$scratch/home"
    env HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/home/.config" \
        MEPHISTO_CACHE_DIR="$scratch/cache" "$@" \
        "$app" --backend dummy --sample-rate 48000 --period-size 512 >"$scratch/$name.log" 2>&1 &
    app_pid=$!
    # A debug build starting on a loaded two-core machine has been seen to need more than
    # 30 s for its first window (one CI run in seven, with nothing in its log), so the wait
    # is 90 s; an app that exits is reported at once, with its exit status.
    local up="" waited=0
    for waited in $(seq 900); do
        if xwininfo -name Mephisto >/dev/null 2>&1; then up=1; break; fi
        kill -0 "$app_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$up" ]; then
        cat "$scratch/$name.log" >&2
        if kill -0 "$app_pid" 2>/dev/null; then
            echo "standalone_check: the window did not open within 90 s ($name)" >&2
        else
            local status=0
            wait "$app_pid" || status=$?
            app_pid=""
            echo "standalone_check: the app exited with status $status before its window opened ($name)" >&2
        fi
        exit 1
    fi
    echo "window up after about $((waited / 10)) s: $name"
    sleep 3
    kill -0 "$app_pid" 2>/dev/null || { cat "$scratch/$name.log" >&2; echo "standalone_check: the app exited ($name)" >&2; exit 1; }
    xwd -silent -name Mephisto | convert xwd:- "$scratch/$name.ppm"
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    app_pid=""
    echo "window opened and ran 3 s: $name"
}

run silent
run chord MEPHISTO_EDITOR_NOTES=48,55,60,64

python3 - "$scratch/silent.ppm" "$scratch/chord.ppm" <<'EOF'
import sys

# The oscilloscope's trace colour (GOOD in plugin/src/editor/ui.rs), blended by
# anti-aliasing: a pixel counts when it is within 60 of it in each channel.
GOOD = (110, 200, 130)

def read_ppm(path):
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P6" and fields[3] == b"255", fields
    width, height = int(fields[1]), int(fields[2])
    return width, height, data[pos + 1:]

def trace_rows(path):
    """Rows of the window's right third, below the top fifth and above the keyboard, that
    hold the trace's green."""
    width, height, pixels = read_ppm(path)
    rows = 0
    for y in range(height // 5, height - 110):
        for x in range(width * 2 // 3, width - 8):
            i = (y * width + x) * 3
            if all(abs(pixels[i + c] - GOOD[c]) <= 60 for c in range(3)):
                rows += 1
                break
    return width, height, rows

w, h, silent = trace_rows(sys.argv[1])
_, _, chord = trace_rows(sys.argv[2])
print(f"oscilloscope trace: {silent} pixel rows silent, {chord} with the chord held ({w}x{h} window)")
if not (chord >= 20 and chord >= 4 * max(silent, 1)):
    sys.exit("standalone_check: FAIL, the chord did not show on the oscilloscope")
print("standalone_check: PASS (the window opened and the app played the chord)")
EOF
