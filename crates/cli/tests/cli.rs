//! The `mephisto` command line as a user meets it: listing, rendering built-in patches and
//! Faust programs (instruments and effect programs) to WAV, compiling programs, and one
//! clear `error:` line with exit status 1 for every mistake. `compile` and `.dsp` renders
//! need `faust` and `rustc` (scripts/setup.sh). `design --llm` talks to the designer's
//! replayed model server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mephisto_compiler::CACHE_DIR_ENV;

#[path = "../../designer/tests/support/replay_server.rs"]
#[allow(dead_code)]
mod replay_server;
use replay_server::{smollm2_answer, ReplayServer, Reply};

const INSTRUMENT: &str = r#"import("stdfaust.lib");
freq = hslider("freq", 440, 20, 20000, 1);
gain = hslider("gain", 0.5, 0, 1, 0.01);
cutoff = hslider("cutoff[unit:Hz][scale:log][bright:0.7][warm:-0.2]", 2000, 50, 16000, 1);
process = os.sawtooth(freq) : fi.lowpass(2, cutoff)
        : *(gain * 0.5 * en.adsr(0.01, 0.2, 0.7, 0.3, button("gate")));
"#;

const EFFECT: &str = r#"import("stdfaust.lib");
tone = hslider("tone[unit:Hz][scale:log]", 2000, 100, 10000, 1);
process = fi.lowpass(2, tone), fi.lowpass(2, tone);
"#;

/// A scratch folder for one test (also its variant cache), removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `mephisto` with `args`, its variant cache inside this folder.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mephisto"))
            .args(args)
            .env(CACHE_DIR_ENV, self.path("cache"))
            .output()
            .expect("mephisto runs")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "mephisto failed: {}\n{}",
        stdout(output),
        stderr(output)
    );
}

/// Exit status 1, nothing on stdout, and exactly one line on stderr: `error: …`.
fn assert_one_error_line(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    assert_eq!(stdout(output), "");
    let text = stderr(output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].starts_with("error: "), "{text}");
    lines[0].to_string()
}

/// Reads a WAV written by `render`: it must be 48 kHz stereo 32-bit float.
fn read_render(path: &Path) -> (Vec<f32>, Vec<f32>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(spec.channels, 2);
    assert_eq!(spec.sample_rate, 48_000);
    assert_eq!(spec.bits_per_sample, 32);
    assert_eq!(spec.sample_format, hound::SampleFormat::Float);
    let samples: Vec<f32> = reader.samples::<f32>().map(Result::unwrap).collect();
    samples.chunks_exact(2).map(|f| (f[0], f[1])).unzip()
}

fn peak(channel: &[f32]) -> f32 {
    channel.iter().fold(0.0f32, |p, s| p.max(s.abs()))
}

#[test]
fn list_names_every_builtin_patch_with_its_archetype() {
    let scratch = Scratch::new("list");
    let output = scratch.run(&["list"]);
    assert_success(&output);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 12, "{text}");
    for line in lines {
        let (name, archetype) = line.split_once(", ").expect("`name, archetype`");
        assert!(!name.is_empty() && !name.contains(' '), "{line}");
        assert!(!archetype.is_empty() && !archetype.contains(' '), "{line}");
    }
}

#[test]
fn a_builtin_patch_renders_three_seconds_of_stereo_float() {
    let scratch = Scratch::new("render-builtin");
    let out = scratch.path("pad.wav");
    let output = scratch.run(&[
        "render",
        "--patch",
        "warm_pad",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    assert!(stdout(&output).starts_with("wrote "), "{}", stdout(&output));
    let (left, right) = read_render(&out);
    assert_eq!(left.len(), 3 * 48_000);
    assert!(peak(&left) > 0.01 && peak(&right) > 0.01);
    assert!(left
        .iter()
        .chain(&right)
        .all(|s| s.is_finite() && s.abs() <= 1.0));
}

#[test]
fn mistakes_give_one_error_line_and_exit_status_1() {
    let scratch = Scratch::new("errors");
    let out = scratch.path("x.wav");
    let out = out.to_str().unwrap();

    let line =
        assert_one_error_line(&scratch.run(&["render", "--patch", "no_such_patch", "--out", out]));
    assert!(line.contains("unknown patch `no_such_patch`"), "{line}");

    let line = assert_one_error_line(&scratch.run(&[
        "render",
        "--patch",
        "warm_pad",
        "--notes",
        "C3:1,H9:1",
        "--out",
        out,
    ]));
    assert!(line.contains("bad score entry `H9:1`"), "{line}");

    let unwritable = scratch.path("no/such/folder/x.wav");
    let line = assert_one_error_line(&scratch.run(&[
        "render",
        "--patch",
        "warm_pad",
        "--out",
        unwritable.to_str().unwrap(),
    ]));
    assert!(line.contains("cannot write"), "{line}");

    let line =
        assert_one_error_line(&scratch.run(&["render", "--patch", "pad.json", "--out", out]));
    assert!(line.contains("pad.json"), "{line}");

    let line = assert_one_error_line(&scratch.run(&["compile", "missing.dsp"]));
    assert!(
        line.starts_with("error: cannot read the program `missing.dsp`"),
        "{line}"
    );
}

#[test]
fn compile_describes_the_program_and_the_cache_serves_it_again() {
    let scratch = Scratch::new("compile");
    let dsp = scratch.write("filtered_saw.dsp", INSTRUMENT);
    let output = scratch.run(&["compile", dsp.to_str().unwrap()]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("filtered_saw.dsp: instrument, compiled\n"),
        "{text}"
    );
    assert!(
        text.contains("channels: process 0 in / 1 out; shared effect: no"),
        "{text}"
    );
    let stages = text
        .lines()
        .find(|l| l.starts_with("stages: "))
        .expect("a stages line");
    for stage in [
        "screen ",
        "toolchain ",
        "faust ",
        "rustc ",
        "load ",
        "total ",
    ] {
        assert!(stages.contains(stage), "{stages}");
    }
    let cutoff = text
        .lines()
        .find(|l| l.contains(" cutoff "))
        .expect("the cutoff parameter");
    assert!(
        cutoff.ends_with("slider   50..16000 Hz (log), init 2000; macros bright +0.70, warm -0.20"),
        "{cutoff}"
    );
    assert!(text.contains(" gate "), "{text}");
    let sanity = text.lines().last().unwrap();
    assert!(sanity.starts_with("sanity: peak "), "{text}");
    assert!(
        sanity.contains("16 voices need ") && sanity.ends_with("(budget 50%)"),
        "{sanity}"
    );

    let again = scratch.run(&["compile", dsp.to_str().unwrap()]);
    assert_success(&again);
    assert!(
        stdout(&again).contains("instrument, loaded from the variant cache"),
        "{}",
        stdout(&again)
    );

    // A budget no program meets turns the sanity gate's figure into a refusal.
    let refused = scratch.run(&["compile", dsp.to_str().unwrap(), "--cpu-budget", "0.0001"]);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(message.starts_with("error: "), "{message}");
    assert!(
        message.contains("refused by the sanity gate: 16 voices need "),
        "{message}"
    );
    assert!(message.contains("the budget is 0.0001%"), "{message}");
}

#[test]
fn compile_refuses_ffunction_naming_it_and_its_line() {
    let scratch = Scratch::new("ffunction");
    let dsp = scratch.write(
        "c_call.dsp",
        "import(\"stdfaust.lib\");\nprocess = ffunction(float sinf(float), <math.h>, \"\")(0.5) * button(\"gate\");\n",
    );
    let output = scratch.run(&["compile", dsp.to_str().unwrap()]);
    let line = assert_one_error_line(&output);
    assert!(
        line.ends_with(
            "c_call.dsp: refused: `ffunction` at line 2 (calling C functions is not allowed in patches)"
        ),
        "{line}"
    );
}

#[test]
fn a_faust_instrument_plays_the_score() {
    let scratch = Scratch::new("render-instrument");
    let dsp = scratch.write("saw.dsp", INSTRUMENT);
    let out = scratch.path("saw.wav");
    let output = scratch.run(&[
        "render",
        "--patch",
        dsp.to_str().unwrap(),
        "--notes",
        "C3:0.5,G3:0.5",
        "--seconds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    let (left, right) = read_render(&out);
    assert_eq!(left.len(), 2 * 48_000);
    assert!(peak(&left[..48_000]) > 0.05, "the notes sound");
    assert!(
        peak(&right[96_000 - 4_800..]) < 1e-3,
        "and end with the release"
    );
}

#[test]
fn an_effect_program_processes_pink_noise_or_a_wav_file() {
    let scratch = Scratch::new("render-effect");
    let dsp = scratch.write("tone.dsp", EFFECT);
    let dsp = dsp.to_str().unwrap();
    let noise = scratch.path("noise.wav");
    let output = scratch.run(&["render", "--patch", dsp, "--out", noise.to_str().unwrap()]);
    assert_success(&output);
    // 3 s of pink noise and a 2 s tail.
    let (left, right) = read_render(&noise);
    assert_eq!(left.len(), 5 * 48_000);
    assert!(peak(&left[..3 * 48_000]) > 0.01 && peak(&right[..3 * 48_000]) > 0.01);
    assert_ne!(
        left[..48_000],
        right[..48_000],
        "stereo noise is decorrelated"
    );
    assert!(
        peak(&left[4 * 48_000..]) < 1e-4,
        "the filter's tail has ended"
    );

    // The same program again gives the same samples: the noise is seeded.
    let again = scratch.path("again.wav");
    assert_success(&scratch.run(&["render", "--patch", dsp, "--out", again.to_str().unwrap()]));
    assert_eq!(read_render(&again).0, left);

    // A WAV file as input: its length plus a 2 s tail.
    let pad = scratch.path("pad.wav");
    assert_success(&scratch.run(&[
        "render",
        "--patch",
        "warm_pad",
        "--seconds",
        "1",
        "--out",
        pad.to_str().unwrap(),
    ]));
    let filtered = scratch.path("filtered.wav");
    assert_success(&scratch.run(&[
        "render",
        "--patch",
        dsp,
        "--input",
        pad.to_str().unwrap(),
        "--out",
        filtered.to_str().unwrap(),
    ]));
    let (left, _) = read_render(&filtered);
    assert_eq!(left.len(), 3 * 48_000);
    assert!(peak(&left) > 0.01);

    let line = assert_one_error_line(&scratch.run(&[
        "render",
        "--patch",
        dsp,
        "--notes",
        "C3:1",
        "--out",
        filtered.to_str().unwrap(),
    ]));
    assert!(
        line.contains("is an effect program (it has 2 audio inputs)"),
        "{line}"
    );
}

#[test]
fn a_patchspec_file_renders_and_a_bad_one_names_its_field() {
    let scratch = Scratch::new("spec");
    let spec = <mephisto_patch::PatchSpec as mephisto_patch::BuildSpec>::from_builtin(0).unwrap();
    let file = scratch.write("spec.json", &spec.to_json_pretty());
    let wav = scratch.path("spec.wav");
    let output = scratch.run(&[
        "render",
        "--patch",
        file.to_str().unwrap(),
        "--out",
        wav.to_str().unwrap(),
    ]);
    assert_success(&output);
    let (left, right) = read_render(&wav);
    assert!(peak(&left) > 0.01 && peak(&right) > 0.01);

    let broken = spec
        .to_json_pretty()
        .replacen("\"voices\": 16", "\"voices\": 0", 1);
    assert_ne!(broken, spec.to_json_pretty(), "the spec names its voices");
    let file = scratch.write("broken.json", &broken);
    let line = assert_one_error_line(&scratch.run(&[
        "render",
        "--patch",
        file.to_str().unwrap(),
        "--out",
        wav.to_str().unwrap(),
    ]));
    assert!(line.contains("`voices`"), "{line}");
}

/// `mephisto bench-neural` where no ONNX Runtime can be found.
#[test]
fn no_onnx_runtime_anywhere_says_where_it_looked_and_what_to_do() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/models/tine_keys.onnx");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mephisto"))
        .arg("bench-neural")
        .arg("--model")
        .arg(model)
        .env_remove("ORT_DYLIB_PATH")
        .env("MEPHISTO_VENV", "/nonexistent-venv")
        .env("PATH", "/nonexistent-bin")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "ONNX Runtime not found",
        "/nonexistent-venv",
        "python3",
        "pip install onnxruntime",
        "ORT_DYLIB_PATH",
    ] {
        assert!(err.contains(expected), "`{expected}` missing from: {err}");
    }
}

#[test]
fn render_writes_audible_audio_for_a_model_file() {
    let dir = std::env::temp_dir().join(format!("mephisto-neural-patch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let render = |out: &Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mephisto"))
            .args(["render", "--patch"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/models/tine_keys.onnx"))
            .args(["--notes", "C3:1,E3:1,G3:1", "--seconds", "2", "--out"])
            .arg(out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut reader = hound::WavReader::open(out).unwrap();
        reader
            .samples::<f32>()
            .map(Result::unwrap)
            .collect::<Vec<f32>>()
    };
    let first = render(&dir.join("a.wav"));
    assert_eq!(first.len(), 2 * 2 * 48_000);
    let peak = first.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(
        peak > 0.01 && peak <= 1.0,
        "audible, not clipping: peak {peak}"
    );
    assert_eq!(
        first,
        render(&dir.join("b.wav")),
        "renders are deterministic"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The designer's crate, whose tests hold the recorded answers of a real small model.
const DESIGNER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../designer");

#[test]
fn design_with_a_model_prints_each_answer_and_keeps_the_transcript() {
    let scratch = Scratch::new("design-llm");
    let (prompt, _, first) = smollm2_answer(DESIGNER_DIR, "noisy_snare_round1");
    let (_, revised_answer, revised) = smollm2_answer(DESIGNER_DIR, "noisy_snare_round2");
    // Spare answers: a test that fails here fails on what was sent and printed.
    let server = ReplayServer::start(vec![first, revised.clone(), revised.clone(), revised]);
    let out = scratch.path("snare.json");
    let transcript = scratch.path("transcript");
    let output = scratch.run(&[
        "design",
        &prompt,
        "--llm",
        &server.base_url(),
        "--model",
        "smollm2-135m-instruct",
        "--out",
        out.to_str().unwrap(),
        "--transcript",
        transcript.to_str().unwrap(),
    ]);
    assert_success(&output);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{}", stderr(&output));

    // Each round's answer is said with its tokens and seconds, however fast it came.
    let err = stderr(&output);
    for round in 1..=2 {
        let said = format!("the model answered (round {round}): ");
        let line = err
            .lines()
            .find(|l| l.contains(&said))
            .unwrap_or_else(|| panic!("round {round} not said: {err}"));
        let tokens: u32 = line
            .split(&said)
            .nth(1)
            .and_then(|rest| rest.split(" tokens in ").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no token count: {line}"));
        assert!(tokens > 50, "{line}");
        assert!(line.contains("finish_reason stop"), "{line}");
    }
    assert!(
        stdout(&output).contains("by the model (graph form, round 2 of 2)"),
        "{}",
        stdout(&output)
    );
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(spec["name"], "mephisto", "round 2's graph went live");

    // The transcript holds what the model was sent and said: round 2 was told what
    // round 1's patch measured.
    let round2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(transcript.join("round2.json")).unwrap())
            .unwrap();
    let sent = round2["messages"].as_array().unwrap();
    let feedback = sent.last().unwrap()["content"].as_str().unwrap();
    assert!(
        feedback.starts_with("Mephisto built and measured that patch"),
        "{feedback}"
    );
    assert_eq!(round2["answer"], revised_answer.as_str());
    assert_eq!(round2["finish_reason"], "stop");
    assert!(transcript.join("round1.json").is_file());
    assert!(!transcript.join("round3.json").exists());
}

#[test]
fn design_with_a_context_too_small_names_the_flag_and_sends_nothing() {
    let scratch = Scratch::new("design-small-context");
    let server = ReplayServer::start(vec![Reply::streamed_chat("{}", "stop")]);
    let out = scratch.path("x.json");
    let line = assert_one_error_line(&scratch.run(&[
        "design",
        "a warm pad",
        "--llm",
        &server.base_url(),
        "--model",
        "smollm2-135m-instruct",
        "--context",
        "2048",
        "--out",
        out.to_str().unwrap(),
    ]));
    for needle in [
        "context, 2048 tokens",
        "raise the context setting to at least",
        "--context",
        "the offline designer gives a patch at once",
    ] {
        assert!(line.contains(needle), "{needle}: {line}");
    }
    assert!(
        server.requests().is_empty(),
        "nothing is sent to be refused"
    );
    assert!(!out.exists());
}

#[test]
fn eval_first_sound_times_every_distinct_prompt_and_prints_the_percentiles() {
    let scratch = Scratch::new("first-sound");
    let suite = scratch.write(
        "suite.json",
        r#"{"prompts": [
            {"id": "a", "prompt": "marimba"},
            {"id": "b", "prompt": "dark pad"},
            {"id": "c", "prompt": "marimba", "velocity": 0.3}
        ], "relations": [
            {"lower": "b", "higher": "a", "descriptor": "centroid", "category": "basics", "why": "-"}
        ]}"#,
    );
    let output = scratch.run(&["eval", suite.to_str().unwrap(), "--first-sound"]);
    assert_success(&output);
    let out = stdout(&output);
    // One row per distinct prompt, with its wall time to first sound, its CPU time on all
    // threads and on the job's own thread, and the wall time to the checked design.
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| marimba |") || l.starts_with("| dark pad |"))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in rows {
        let ms: Vec<f64> = row
            .split('|')
            .skip(2)
            .filter_map(|cell| cell.trim().parse().ok())
            .collect();
        assert_eq!(ms.len(), 4, "{row}");
        assert!(ms.iter().all(|&t| t > 0.0), "{row}");
        // The job's own thread is part of all the threads; the draft sounds before the
        // checked design that replaces it is made.
        assert!(ms[2] <= ms[1] + 0.5, "{row}");
        assert!(ms[0] < ms[3], "{row}");
    }
    let summary = out
        .lines()
        .find(|l| l.starts_with("first sound over 2 prompts: wall median "))
        .unwrap_or_else(|| panic!("{out}"));
    for part in [
        "95th percentile",
        "max",
        "CPU median",
        "(all threads)",
        "CPU of the job's thread median",
        "the checked design: wall median",
    ] {
        assert!(summary.contains(part), "{summary}");
    }
    // Timing is not scoring: no relation table.
    assert!(!out.contains("| relation |"), "{out}");
}
