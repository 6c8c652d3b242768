//! `mephisto transfer` as a user meets it: a recording in, the same rate and length out in
//! stereo, the voice at the input's pitch (median error on voiced frames under 30 cents, the
//! issue's bar), shifted by `--octave`; a sine and a Faust voice at known notes as inputs;
//! one clear error line for a bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mephisto_analysis::Yin;

const SR: u32 = 44_100;

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("transfer-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mephisto(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_mephisto"))
        .args(args)
        .output()
        .expect("mephisto runs");
    output
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "mephisto failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A 16-bit mono WAV of `samples`.
fn write_mono(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SR,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        writer.write_sample((s * 32767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();
}

/// The mono mix of a float stereo WAV, with its rate.
fn read_stereo(path: &Path) -> (Vec<f32>, u32) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(spec.channels, 2, "stereo out");
    let samples: Vec<f32> = reader.samples::<f32>().map(Result::unwrap).collect();
    let mono = samples.chunks(2).map(|f| 0.5 * (f[0] + f[1])).collect();
    (mono, spec.sample_rate)
}

/// Median |cents| between the output's pitch and `expected(t)` over every 10 ms frame where
/// `expected` gives a pitch and the output is voiced; with how many frames that was.
fn median_cents(output: &[f32], expected: impl Fn(f32) -> Option<f32>) -> (f32, usize) {
    let mut yin = Yin::with_range(SR as f32, 50.0, 2000.0);
    let len = yin.frame_len();
    let mut errors: Vec<f32> = (0..output.len().saturating_sub(len))
        .step_by(SR as usize / 100)
        .filter_map(|start| {
            let centre = (start + len / 2) as f32 / SR as f32;
            let want = expected(centre)?;
            let got = yin.estimate(&output[start..start + len])?;
            Some((1200.0 * (got / want).log2()).abs())
        })
        .collect();
    assert!(!errors.is_empty(), "no voiced frame to compare");
    errors.sort_by(f32::total_cmp);
    (errors[errors.len() / 2], errors.len())
}

/// A sine at `hz` from 0.25 s to 1.75 s of 2 s, at -12 dBFS peak.
fn sine(hz: f32) -> Vec<f32> {
    (0..2 * SR as usize)
        .map(|n| {
            let t = n as f32 / SR as f32;
            let on = (0.25..1.75).contains(&t);
            if on {
                0.25 * (std::f32::consts::TAU * hz * t).sin()
            } else {
                0.0
            }
        })
        .collect()
}

#[test]
fn a_sine_becomes_the_neural_voice_at_its_pitch_rate_and_length() {
    let dir = scratch("sine");
    let input = dir.join("sine.wav");
    let hz = 261.63;
    write_mono(&input, &sine(hz));
    let held = |t: f32| (0.35..1.65).contains(&t);
    for (octave, factor) in [("0", 1.0), ("-1", 0.5)] {
        let out = dir.join(format!("out{octave}.wav"));
        let output = mephisto(&[
            "transfer",
            "--input",
            input.to_str().unwrap(),
            "--patch",
            "tine_keys_neural",
            "--octave",
            octave,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_success(&output);
        let (voice, rate) = read_stereo(&out);
        assert_eq!(rate, SR, "the input's rate");
        assert_eq!(voice.len(), 2 * SR as usize, "the input's length");
        let (median, frames) = median_cents(&voice, |t| held(t).then_some(hz * factor));
        println!("octave {octave}: median error {median:.2} cents over {frames} frames");
        assert!(frames > 100, "voiced frames: {frames}");
        assert!(
            median < 30.0,
            "octave {octave}: median error {median} cents"
        );
        // Silence before the input starts (the latency is taken off: nothing early).
        let before = voice[..(0.2 * SR as f32) as usize]
            .iter()
            .fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(before < 1e-3, "before the input: peak {before}");
    }
}

#[test]
fn a_faust_voice_at_known_notes_drives_a_faust_patch() {
    let dir = scratch("faust");
    let input = dir.join("strings.wav");
    // A3 for 1 s, then E4 from 1.3 s for 1 s: a recording whose notes are known.
    assert_success(&mephisto(&[
        "render",
        "--patch",
        "string_ensemble",
        "--notes",
        "A3:1,E4:1@1.3",
        "--sr",
        "44100",
        "--out",
        input.to_str().unwrap(),
    ]));
    let out = dir.join("pluck.wav");
    assert_success(&mephisto(&[
        "transfer",
        "--input",
        input.to_str().unwrap(),
        "--patch",
        "tine_keys",
        "--out",
        out.to_str().unwrap(),
    ]));
    let (voice, _) = read_stereo(&out);
    let expected = |t: f32| match t {
        t if (0.15..0.9).contains(&t) => Some(220.0),
        t if (1.45..2.2).contains(&t) => Some(329.63),
        _ => None,
    };
    let (median, frames) = median_cents(&voice, expected);
    println!(
        "tine_keys following string_ensemble: median error {median:.2} cents over {frames} frames"
    );
    assert!(frames > 50, "voiced frames: {frames}");
    assert!(median < 30.0, "median error {median} cents");
}

#[test]
fn a_bad_input_or_patch_is_one_clear_error() {
    let dir = scratch("errors");
    let input = dir.join("sine.wav");
    write_mono(&input, &sine(440.0));
    let out = dir.join("out.wav");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--input", "/nonexistent.wav", "--patch", "tine_keys"],
            "/nonexistent.wav",
        ),
        (
            &[
                "--input",
                input.to_str().unwrap(),
                "--patch",
                "no_such_patch",
            ],
            "no_such_patch",
        ),
        (
            &[
                "--input",
                input.to_str().unwrap(),
                "--patch",
                "tine_keys",
                "--octave",
                "7",
            ],
            "--octave",
        ),
    ];
    for (args, named) in cases {
        let mut full = vec!["transfer", "--out", out.to_str().unwrap()];
        full.extend_from_slice(args);
        let output = mephisto(&full);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.starts_with("error: ") && err.contains(named), "{err}");
        assert!(!out.exists(), "nothing written for {args:?}");
    }
}
