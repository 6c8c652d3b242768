//! Correctness oracle: every built-in patch compiled by Faust's C++ backend and rendered by
//! a small C++ harness (`tests/oracle/harness.cpp`) must give the same samples as our path
//! (Faust's Rust backend inside the engine), for the same note events, within 1e-4.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use mephisto_dsp::builtin_patches;
use mephisto_dsp::macros::NEUTRAL_MACROS;
use mephisto_patch::render::render_score;
use mephisto_patch::score::ScoreNote;
use mephisto_rt::engine::{note_to_hz, DEFAULT_VOICES};
use mephisto_rt::instance::PatchInstance;

const SAMPLE_RATE: u32 = 48_000;
const SECONDS: f64 = 1.5;
const TOLERANCE: f32 = 1e-4;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Velocity of the oracle's notes: soft enough that three of them stay under the limiter.
const VELOCITY: f32 = 0.5;

/// Three overlapping notes; a fresh engine gives them voices 0, 1 and 2.
fn score() -> Vec<ScoreNote> {
    [(48, 0.0), (52, 0.15), (67, 0.3)]
        .into_iter()
        .map(|(note, start)| ScoreNote {
            note,
            start,
            duration: 0.5,
            velocity: VELOCITY,
        })
        .collect()
}

/// The same score as harness events: `FRAME TARGET LABEL VALUE`, in the engine's order.
fn harness_events(score: &[ScoreNote]) -> String {
    let frame = |t: f64| (t * SAMPLE_RATE as f64).round() as usize;
    let mut events: Vec<(usize, String)> = Vec::new();
    for (voice, n) in score.iter().enumerate() {
        let on = frame(n.start);
        events.push((
            on,
            format!("v{voice} freq {:.9e}", note_to_hz(n.note as f32)),
        ));
        events.push((on, format!("v{voice} gain {:.9e}", n.velocity)));
        events.push((on, format!("v{voice} gate 1")));
        events.push((frame(n.start + n.duration), format!("v{voice} gate 0")));
    }
    events.sort_by_key(|(f, _)| *f);
    events.iter().fold(String::new(), |mut s, (f, e)| {
        let _ = writeln!(s, "{f} {e}");
        s
    })
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({e}); scripts/setup.sh installs it"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Renders a patch with Faust's C++ backend, returning interleaved stereo.
fn render_with_cpp(name: &str, has_effect: bool, events: &str, dir: &Path) -> Vec<f32> {
    let root = workspace();
    let dsp = root.join(format!("faust/patches/{name}.dsp"));
    let faust = |class: &str, out: &str, process: Option<&str>| {
        let mut cmd = Command::new("faust");
        cmd.args(["-lang", "cpp", "-I"])
            .arg(root.join("faust"))
            .args(["-cn", class, "-o"])
            .arg(dir.join(out));
        if let Some(pn) = process {
            cmd.args(["-pn", pn]);
        }
        run(cmd.arg(&dsp), "faust");
    };
    faust("MephistoVoice", "voice.h", None);
    let mut gxx = Command::new("g++");
    gxx.args(["-O1", "-std=c++17", "-I"]).arg(dir);
    if has_effect {
        faust("MephistoEffect", "effect.h", Some("effect"));
        gxx.arg("-DHAS_EFFECT");
    }
    let harness = dir.join("harness");
    run(
        gxx.arg(root.join("tests/oracle/harness.cpp"))
            .arg("-o")
            .arg(&harness),
        "g++",
    );
    std::fs::write(dir.join("events.txt"), events).unwrap();
    let frames = (SECONDS * SAMPLE_RATE as f64).round() as usize;
    run(
        Command::new(&harness)
            .arg(SAMPLE_RATE.to_string())
            .arg(frames.to_string())
            .arg(dir.join("events.txt"))
            .arg(dir.join("out.f32")),
        "the C++ harness",
    );
    std::fs::read(dir.join("out.f32"))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn every_builtin_patch_matches_fausts_cpp_backend() {
    let score = score();
    let events = harness_events(&score);
    let mut report = Vec::new();
    for (index, patch) in builtin_patches().iter().enumerate() {
        let dir = std::env::temp_dir().join(format!(
            "mephisto-oracle-{}-{}",
            std::process::id(),
            patch.name
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let reference = render_with_cpp(patch.name, patch.new_effect.is_some(), &events, &dir);
        let instance = PatchInstance::builtin(index, DEFAULT_VOICES, SAMPLE_RATE as f32).unwrap();
        let ours = render_score(instance, &score, NEUTRAL_MACROS, SECONDS, SAMPLE_RATE);
        let interleaved: Vec<f32> = ours
            .left
            .iter()
            .zip(&ours.right)
            .flat_map(|(l, r)| [*l, *r])
            .collect();
        assert_eq!(
            reference.len(),
            interleaved.len(),
            "{}: frame counts differ",
            patch.name
        );
        let peak = reference.iter().fold(0.0f32, |p, s| p.max(s.abs()));
        let worst = reference
            .iter()
            .zip(&interleaved)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        report.push(format!(
            "{:<16} peak {peak:.3}  max |diff| {worst:.2e}",
            patch.name
        ));
        println!("{}", report.last().unwrap());
        assert!(
            peak > 0.01,
            "{}: the reference render is silent",
            patch.name
        );
        assert!(
            peak < 0.98,
            "{}: loud enough to engage the limiter; lower the velocity",
            patch.name
        );
        assert!(
            worst <= TOLERANCE,
            "{}: Rust and C++ differ by {worst:e}",
            patch.name
        );
        std::fs::remove_dir_all(&dir).ok();
    }
    assert!(report.len() >= 3);
}
