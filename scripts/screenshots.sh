#!/usr/bin/env bash
# Screenshots of the plugin window for docs/GUI.md: builds the standalone, runs it on a virtual
# X display (Xvfb, software OpenGL) with the dummy audio backend, and saves the main views to
# docs/img/. The window is steered with the MEPHISTO_EDITOR_* variables (docs/GUI.md).
#
# Debian packages: xvfb (the display), xdotool (typing the prompt), x11-apps (xwd), x11-utils (xwininfo, xdpyinfo),
# x11-xserver-utils (xrdb, for the 200 % shot), imagemagick (convert), libgl1-mesa-dri
# (software OpenGL). The window loads libX11/libxcb/libGL at run time, so building needs no
# X11 headers; the standalone needs libasound2-dev, libjack-jackd2-dev and pkg-config
# (scripts/setup.sh). The code-error shot needs `faust`.
#
#   bash scripts/screenshots.sh            # debug build
#   PROFILE=release bash scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

source "$(dirname "$0")/debian_packages.sh"
ensure_debian_packages xvfb xdotool x11-apps x11-utils x11-xserver-utils imagemagick libgl1-mesa-dri \
    libasound2-dev libjack-jackd2-dev pkg-config

profile="${PROFILE:-debug}"
# Seconds a designed patch needs to go live (design, calibration) before its shot.
settle="${SETTLE:-$([ "$profile" = release ] && echo 5 || echo 30)}"
flags=()
[ "$profile" = release ] && flags=(--release)
cargo build -p mephisto --features standalone --bin mephisto-standalone "${flags[@]}"
target="${CARGO_TARGET_DIR:-target}"
binary="$target/$profile/mephisto-standalone"

out=docs/img
mkdir -p "$out"
scratch="$(mktemp -d)"
xvfb_pid=""
app_pid=""
cleanup() {
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

display=":${SCREENSHOT_DISPLAY:-97}"
export DISPLAY="$display"
# Software OpenGL, so no GPU is needed.
export LIBGL_ALWAYS_SOFTWARE=1

# A settings folder of its own, so the shots never read or write the user's settings.
config="$scratch/config"
mkdir -p "$config/mephisto"
export XDG_CONFIG_HOME="$config"
export MEPHISTO_CACHE_DIR="$scratch/cache"

# -noreset keeps the root window's resources (Xft.dpi) when the last client leaves.
start_display() { # WIDTHxHEIGHT DPI
    Xvfb "$display" -screen 0 "$1x24" -nolisten tcp -noreset >"$scratch/xvfb.log" 2>&1 &
    xvfb_pid=$!
    for _ in $(seq 50); do
        xdpyinfo >/dev/null 2>&1 && break
        sleep 0.1
    done
    echo "Xft.dpi: $2" | xrdb -merge
}

stop_display() {
    kill "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
    xvfb_pid=""
}

# launch NAME [VAR=VALUE...]: runs the standalone with the variables and waits until its
# window is up.
launch() {
    local name="$1"
    shift
    env "$@" "$binary" --backend dummy --sample-rate 48000 --period-size 512 \
        >"$scratch/$name.log" 2>&1 &
    app_pid=$!
    for _ in $(seq 300); do
        xwininfo -name Mephisto >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "error: the Mephisto window did not appear for $name; its log:" >&2
    cat "$scratch/$name.log" >&2
    exit 1
}

# snap NAME: saves the window as docs/img/NAME.png.
snap() {
    xwd -silent -name Mephisto | convert xwd:- "$out/$1.png"
    echo "wrote $out/$1.png"
}

# capture NAME: snaps the window and closes the standalone.
capture() {
    snap "$1"
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    app_pid=""
}

# shot NAME SECONDS [VAR=VALUE...]: launches, waits SECONDS, captures.
shot() {
    local name="$1" wait="$2"
    shift 2
    launch "$name" "$@"
    sleep "$wait"
    capture "$name"
}

# typed_shot NAME SECONDS PROMPT [VAR=VALUE...]: types PROMPT into the window's prompt box as
# a producer would (X key events through xdotool), presses Enter, waits SECONDS for the
# patch to go live, holds a note on the on-screen keyboard and captures.
typed_shot() {
    local name="$1" wait="$2" prompt="$3"
    shift 3
    launch "$name" "$@"
    sleep 2
    local window
    window=$(xdotool search --name Mephisto | head -1)
    # The prompt box and the on-screen keyboard's C4, at 100 % scale.
    xdotool mousemove --window "$window" 600 66 click 1
    xdotool type --delay 20 "$prompt"
    xdotool key Return
    sleep "$wait"
    xdotool mousemove --window "$window" 760 740 mousedown 1
    sleep 1
    capture "$name"
    xdotool mouseup 1 || true
}

# neural_shots SECONDS: clicks a shipped neural model (the second, tine_keys) in the left column
# with a chord held, waits SECONDS for it to go live, snaps the Sound page (neural.png), then
# opens Settings, where the execution provider in use shows (settings-neural.png).
neural_shots() {
    launch neural MEPHISTO_EDITOR_NOTES="$chord"
    sleep 2
    local window
    window=$(xdotool search --name Mephisto | head -1)
    # A model under "Neural models", and the Settings tab, at 100 % scale.
    xdotool mousemove --window "$window" 45 655 click 1
    sleep "$1"
    snap neural
    xdotool mousemove --window "$window" 334 20 click 1
    sleep 1
    capture settings-neural
}

# A program with a missing semicolon, for the code view's error marking.
cat >"$scratch/broken.dsp" <<'EOF'
import("stdfaust.lib");
// A saw through a low-pass; the cutoff line lacks its semicolon.
freq = hslider("freq", 440, 20, 20000, 1);
gain = hslider("gain", 0.5, 0, 1, 0.01);
gate = button("gate");
cutoff = hslider("cutoff[unit:Hz][scale:log][bright:0.6]", 2000, 50, 12000, 1)
process = os.sawtooth(freq) : fi.lowpass(2, cutoff) * en.adsr(0.01, 0.2, 0.7, 0.4, gate) * gain <: _, _;
EOF

# The patch the window opens with (dark_drone) edited in the code view: a brighter filter and
# a quicker swell, with a comment saying so, for the code view compiling and playing a real
# patch.
sed -e 's|^cutoff = hslider("cutoff\(.*\)", 500,|// Edited in the code view: a brighter filter (500 -> 1400 Hz) and a quicker swell.\ncutoff = hslider("cutoff\1", 1400,|' \
    -e 's|^attack = hslider("attack\(.*\)", 1.5,|attack = hslider("attack\1", 0.3,|' \
    faust/patches/dark_drone.dsp >"$scratch/edited.dsp"
grep -q '1400, 50, 8000' "$scratch/edited.dsp" && grep -q '0.3, 0.005, 10' "$scratch/edited.dsp" ||
    { echo "error: the dark_drone edit did not apply" >&2; exit 1; }

prompt="warm analog pad with slow shimmering motion"
chord="55,60,64,67"

start_display 1600x1000 96
typed_shot main "$settle" "$prompt" MEPHISTO_EDITOR_NOTES="$chord"
neural_shots "$settle"
shot code "$settle" MEPHISTO_EDITOR_VIEW=code MEPHISTO_EDITOR_CODE="$scratch/edited.dsp" MEPHISTO_EDITOR_NOTES="$chord"
shot code-error 6 MEPHISTO_EDITOR_VIEW=code MEPHISTO_EDITOR_CODE="$scratch/broken.dsp"
cat >"$config/mephisto/settings.json" <<'EOF'
{
  "designer": "llm",
  "llm": {
    "base_url": "http://127.0.0.1:11434/v1",
    "model": "qwen2.5-coder:7b",
    "api_key_env": "OPENAI_API_KEY",
    "timeout": 120.0
  }
}
EOF
shot settings 2 MEPHISTO_EDITOR_VIEW=settings
rm "$config/mephisto/settings.json"
stop_display

# 200 %: the desktop asks for it (Xft.dpi 192), as a HiDPI screen does.
start_display 2600x1800 192
shot main-200 "$settle" MEPHISTO_EDITOR_PROMPT="dark detuned bass that growls" MEPHISTO_EDITOR_NOTES="48,55"
stop_display
