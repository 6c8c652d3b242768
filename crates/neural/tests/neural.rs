//! The neural voice against the PyTorch side (`onnx/testdata/parity_*.json`, written by
//! `onnx/train.py`): the ONNX decoder run through `ort` gives PyTorch's numbers, and the Rust
//! harmonic synth renders PyTorch's float64 reference. Also: clear errors for a missing ONNX
//! Runtime and for broken model files, and the real-time pair end to end.
//!
//! ONNX Runtime is found the way the plugin finds it (`ORT_DYLIB_PATH`, the project's venv
//! from `scripts/setup_python.sh`, python3's onnxruntime).

use std::path::{Path, PathBuf};

use serde_json::Value;

use mephisto_neural::decoder::{Decoder, DecoderOptions, ProviderChoice};
use mephisto_neural::inference::NeuralInference;
use mephisto_neural::voices::timing;
use mephisto_neural::NeuralError;
use mephisto_rt::neural::bank::{NeuralVoiceBank, StreamSettings};
use mephisto_rt::neural::synth::render_frames;
use mephisto_rt::neural::{Controls, HARMONICS};

/// The synth's largest allowed difference from the float64 reference (the shipped models
/// differ by 1.5e-6 to 2.5e-6): our controls are float32 where the reference read the same
/// 7-digit values as float64, which moves f0 by up to ~1e-7 relative and so the upper
/// harmonics' phases a little by the end of the 0.25 s render.
const SYNTH_TOLERANCE: f32 = 1e-5;

fn onnx_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx")
}

/// Every parity file; none is a failure (they ship with the models), and the test model
/// with a timbre encoder (`testdata/encoder/`, not shipped).
fn parity_files() -> Vec<(PathBuf, Value)> {
    let dir = onnx_dir().join("testdata");
    let mut files: Vec<PathBuf> = [dir.clone(), dir.join("encoder")]
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("parity_") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no onnx/testdata/parity_*.json: train and export a model first (onnx/train.py)"
    );
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let data =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, data)
        })
        .collect()
}

/// A nested list of numbers, flattened in order.
fn flat(value: &Value) -> Vec<f32> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().expect("a number") as f32],
        other => panic!("expected numbers, found {other}"),
    }
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The model a parity file is about: shipped in `onnx/models`, or the encoder test model.
fn model_of(data: &Value) -> PathBuf {
    let name = data["model"]
        .as_str()
        .expect("`model` names the .onnx file");
    let shipped = onnx_dir().join("models").join(name);
    if shipped.is_file() {
        shipped
    } else {
        onnx_dir().join("testdata/encoder").join(name)
    }
}

fn cpu() -> DecoderOptions {
    DecoderOptions {
        providers: ProviderChoice::CpuOnly,
        ..DecoderOptions::default()
    }
}

#[test]
fn the_decoder_gives_pytorchs_numbers() {
    for (path, data) in parity_files() {
        let model = model_of(&data);
        let mut decoder = Decoder::load(&model, &cpu()).unwrap_or_else(|e| panic!("{e}"));
        let tolerance = data["tolerance"].as_f64().unwrap_or(1e-4) as f32;
        let d = &data["decoder"];
        let f0 = flat(&d["f0_hz"]);
        let loudness = flat(&d["loudness_db"]);
        let voices = d["f0_hz"].as_array().unwrap().len();
        let frames = f0.len() / voices;
        let out = match d.get("z") {
            // A model with an encoder: each frame's own timbre.
            Some(z) => decoder
                .infer_with_z(&f0, &loudness, &flat(z), voices, frames)
                .unwrap(),
            None => decoder.infer(&f0, &loudness, voices, frames).unwrap(),
        };
        let mut got = (Vec::new(), Vec::new(), Vec::new());
        for v in 0..voices {
            for t in 0..frames {
                got.0.push(out.amplitude(v, t));
                got.1.extend_from_slice(out.harmonics(v, t));
                got.2.extend_from_slice(out.noise(v, t));
            }
        }
        for (name, ours) in [("amplitude", got.0), ("harmonics", got.1), ("noise", got.2)] {
            let diff = largest_difference(&ours, &flat(&d[name]));
            println!("{}: {name} largest difference {diff:e}", path.display());
            assert!(
                diff <= tolerance,
                "{}: {name} differs by {diff} (tolerance {tolerance})",
                path.display()
            );
        }
        // One frame at a time (the streaming shape) gives the same numbers: no state.
        let single = match d.get("z") {
            Some(z) => {
                let dims = flat(z).len() / f0.len();
                decoder.infer_with_z(&f0[..1], &loudness[..1], &flat(z)[..dims], 1, 1)
            }
            None => decoder.infer(&f0[..1], &loudness[..1], 1, 1),
        }
        .unwrap();
        let first = flat(&d["amplitude"])[0];
        assert!((single.amplitude(0, 0) - first).abs() <= tolerance);
    }
}

#[test]
fn the_harmonic_synth_renders_the_reference() {
    for (path, data) in parity_files() {
        let s = &data["synth"];
        let sr = s["sample_rate"].as_f64().unwrap() as f32;
        let hop = s["hop"].as_f64().unwrap();
        let samples = s["samples"].as_u64().unwrap() as usize;
        let f0 = flat(&s["f0_hz"]);
        let amplitude = flat(&s["amplitude"]);
        let harmonics = flat(&s["harmonics"]);
        let frames: Vec<Controls> = (0..f0.len())
            .map(|i| {
                let mut c = Controls::silent(f0[i]);
                c.amplitude = amplitude[i];
                c.harmonics
                    .copy_from_slice(&harmonics[i * HARMONICS..(i + 1) * HARMONICS]);
                c
            })
            .collect();
        let ours = render_frames(&frames, sr, 8000.0, hop, samples, false);
        let diff = largest_difference(&ours, &flat(&s["output"]));
        println!("{}: synth largest difference {diff:e}", path.display());
        assert!(
            diff <= SYNTH_TOLERANCE,
            "{}: the synth differs by {diff} (tolerance {SYNTH_TOLERANCE})",
            path.display()
        );
    }
}

/// A scratch folder for broken model files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mephisto-neural-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const SIDECAR: &str = r#"{"version":1, "name":"broken", "trained_on":"patch none",
    "sample_rate":16000, "hop":320, "harmonics":60, "noise_bands":65, "f0_range_hz":[40, 2000],
    "loudness": {"velocity_1_db": -6, "velocity_0_db": -40, "attack_s": 0.01, "decay_s": 0.2,
                 "sustain_db": -12, "release_s": 0.3, "floor_db": -100}}"#;

#[test]
fn a_missing_onnx_runtime_says_what_to_do() {
    let dir = scratch("no-runtime");
    let model = dir.join("m.onnx");
    std::fs::write(&model, b"not read: the runtime is missing first").unwrap();
    std::fs::write(dir.join("m.json"), SIDECAR).unwrap();
    let options = DecoderOptions {
        library: Some(PathBuf::from("/nonexistent/libonnxruntime.so")),
        ..cpu()
    };
    let err = Decoder::load(&model, &options).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(err, NeuralError::Runtime(_)), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("/nonexistent/libonnxruntime.so"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn broken_model_files_are_named_with_the_problem() {
    let dir = scratch("broken");
    let model = dir.join("garbage.onnx");
    std::fs::write(&model, b"\x00\x01 definitely not protobuf \xff\xfe").unwrap();
    // No sidecar.
    let err = Decoder::load(&model, &cpu()).unwrap_err();
    assert!(matches!(err, NeuralError::Model(_)), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("garbage.json"), "{err}");
    // A sidecar that is not JSON.
    std::fs::write(dir.join("garbage.json"), "{ not json").unwrap();
    let err = Decoder::load(&model, &cpu()).unwrap_err().to_string();
    assert!(
        err.contains("garbage.json") && err.contains("not valid JSON"),
        "{err}"
    );
    // A good sidecar, garbage model bytes: ONNX Runtime refuses it.
    std::fs::write(dir.join("garbage.json"), SIDECAR).unwrap();
    let err = Decoder::load(&model, &cpu()).unwrap_err().to_string();
    assert!(
        err.contains("cannot load the neural model") && err.contains("garbage.onnx"),
        "{err}"
    );
    // No model at all.
    let err = Decoder::load(&dir.join("absent.onnx"), &cpu())
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.json"), "{err}");
    std::fs::write(dir.join("absent.json"), SIDECAR).unwrap();
    let err = Decoder::load(&dir.join("absent.onnx"), &cpu())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("absent.onnx") && err.contains("does not exist"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A model with a timbre encoder (sidecar version 2) plays the training audio's mean z; a
/// version-1 sidecar for it, or a z of the wrong size, is refused with the reason.
#[test]
fn an_encoder_model_plays_its_mean_timbre() {
    let (_, data) = parity_files()
        .into_iter()
        .find(|(_, d)| d["decoder"].get("z").is_some())
        .expect("the encoder test model's parity file");
    let model = model_of(&data);
    let mut decoder = Decoder::load(&model, &cpu()).unwrap();
    let z_mean = decoder.info().encoder().unwrap().z_mean.clone();
    let (f0, loudness) = ([220.0, 440.0], [-20.0, -30.0]);
    let mean: Vec<f32> = z_mean.iter().chain(&z_mean).copied().collect();
    let with_mean = decoder
        .infer_with_z(&f0, &loudness, &mean, 2, 1)
        .unwrap()
        .clone();
    let played = decoder.infer(&f0, &loudness, 2, 1).unwrap();
    for v in 0..2 {
        assert_eq!(played.harmonics(v, 0), with_mean.harmonics(v, 0));
        assert_eq!(played.amplitude(v, 0), with_mean.amplitude(v, 0));
    }
    let err = decoder
        .infer_with_z(&f0, &loudness, &z_mean, 2, 1)
        .unwrap_err();
    assert!(err.contains("16 z values per frame"), "{err}");

    let dir = std::env::temp_dir().join(format!("mephisto-encoder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&model, dir.join("m.onnx")).unwrap();
    let sidecar = std::fs::read_to_string(model.with_extension("json")).unwrap();
    std::fs::write(
        dir.join("m.json"),
        sidecar.replacen("\"version\": 2", "\"version\": 1", 1),
    )
    .unwrap();
    let err = Decoder::load(&dir.join("m.onnx"), &cpu())
        .unwrap_err()
        .to_string();
    assert!(err.contains("version 2"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_note_streams_through_the_decoder_and_ends() {
    let (_, data) = parity_files().pop().unwrap();
    let decoder = Decoder::load(&model_of(&data), &cpu()).unwrap();
    let release = decoder.info().loudness.release_s;
    let settings = StreamSettings::new(4, 48_000.0);
    let (mut bank, ports) = NeuralVoiceBank::new(&timing(decoder.info()), &settings);
    let mut inference = NeuralInference::new(decoder, ports, &settings);
    let mut block = vec![0.0f32; 256];
    let mut heard = 0.0f32;
    bank.note_on(0, 220.0, 0.9);
    bank.note_on(1, 330.0, 0.5);
    // The worker steps before every block, as a thread a few ms ahead would.
    for _ in 0..200 {
        inference.step().unwrap();
        bank.render(&mut block);
        heard = block.iter().fold(heard, |m, s| m.max(s.abs()));
    }
    assert!(bank.has_frame(0) && bank.has_frame(1));
    assert_eq!(
        bank.late_frames(),
        0,
        "a worker stepping every block is never late"
    );
    assert!(heard > 1e-4, "the notes sound (peak {heard})");
    bank.note_off(0);
    bank.note_off(1);
    let blocks = ((release + 0.1) * 48_000.0 / 256.0) as usize + 2;
    for _ in 0..blocks {
        inference.step().unwrap();
        bank.render(&mut block);
    }
    assert!(!bank.is_voice_active(0) && !bank.is_voice_active(1));
    assert!(block.iter().all(|s| *s == 0.0));
}

#[test]
fn the_default_provider_is_cuda_or_the_cpu_with_the_reason() {
    use mephisto_neural::runtime::Provider;
    let (_, data) = parity_files().pop().unwrap();
    let decoder = Decoder::load(&model_of(&data), &DecoderOptions::default()).unwrap();
    match decoder.provider() {
        Provider::Cuda => assert!(decoder.provider_note().is_none()),
        Provider::Cpu => {
            let note = decoder.provider_note().expect("why not CUDA");
            assert!(note.contains("CUDA"), "{note}");
        }
    }
}
