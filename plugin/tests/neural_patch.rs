//! A neural model as a playable patch: every shipped model plays chords (offline, in lockstep,
//! and deterministically), a live instance renders without allocating while its decoder runs
//! on its own thread, `mephisto render --patch MODEL.onnx` writes audible audio, the worker
//! plays a PatchSpec that names a model (and explains a missing one while the previous patch
//! keeps playing), and the macros are calibrated on the neural patches (the table is printed;
//! see docs/NEURAL.md for the results).
//!
//! ONNX Runtime is found the way the plugin finds it (`ORT_DYLIB_PATH`, the project's venv
//! from `scripts/setup_python.sh`, python3's onnxruntime).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_designer::Failure;
use mephisto_designer::Stage;
use mephisto_dsp::macros::{Macro, NEUTRAL_MACROS};
use mephisto_neural::voices::{load_live, resolve_model, shipped_models, trained_on_effect};
use mephisto_patch::render::OfflineEngine;
use mephisto_patch::spec::{NeuralSpec, PatchSpec};
use mephisto_patch::{BuildSpec, OfflinePatch};
use mephisto_rt::engine::{Engine, EngineEvent, DEFAULT_VOICES};
use mephisto_rt::instance::{PatchInstance, Playable};
use mephisto_tuning::calibration::calibrate;

use support::rig::{audio_thread, Rig, BLOCK, SR};

const MODELS: [&str; 4] = ["tine_keys", "warm_pad", "saw_lead", "nylon_pluck"];
const CHORD: [u8; 3] = [48, 52, 55];

fn model_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../onnx/models")
        .join(format!("{name}.onnx"))
}

/// An offline (lockstep) instance of a shipped model's spec, with `voices` voices.
fn offline(name: &str, voices: usize) -> OfflinePatch {
    let spec = PatchSpec::from_model(name).unwrap();
    let program = spec
        .program(&Compiler::new(CompilerOptions::default()))
        .unwrap();
    program.instantiate(&spec, voices, SR).unwrap()
}

fn rms(s: &[f32]) -> f32 {
    (s.iter().map(|x| x * x).sum::<f32>() / s.len().max(1) as f32).sqrt()
}

/// Plays the chord for 1 s and releases it for 1.5 s; returns both channels.
fn play_chord(engine: &mut OfflineEngine) -> (Vec<f32>, Vec<f32>) {
    let n = SR as usize;
    let (mut l, mut r) = (vec![0.0; 5 * n / 2], vec![0.0; 5 * n / 2]);
    for note in CHORD {
        engine.handle(EngineEvent::NoteOn {
            note,
            velocity: 0.8,
        });
    }
    engine.render(&mut l[..n / 2], &mut r[..n / 2]);
    let active = (0..DEFAULT_VOICES)
        .filter(|&v| engine.current().is_voice_active(v))
        .count();
    assert_eq!(active, CHORD.len(), "one voice per note");
    engine.render(&mut l[n / 2..n], &mut r[n / 2..n]);
    for note in CHORD {
        engine.handle(EngineEvent::NoteOff { note });
    }
    engine.render(&mut l[n..], &mut r[n..]);
    (l, r)
}

#[test]
fn every_shipped_model_plays_a_chord_offline_and_deterministically() {
    for name in MODELS {
        let render = || {
            let instance = offline(name, DEFAULT_VOICES);
            assert_eq!(instance.name, format!("{name}_neural"));
            assert!(instance.neural_voices().is_some());
            let mut engine = OfflineEngine::new(instance, SR);
            let audio = play_chord(&mut engine);
            assert_eq!(engine.decoder_error(), None, "{name}: decoder error");
            let neural = engine.current().neural_voices().unwrap();
            assert_eq!(
                neural.bank().late_frames(),
                0,
                "{name}: lockstep is never late"
            );
            audio
        };
        let (l, r) = render();
        assert!(l.iter().chain(&r).all(|s| s.is_finite()), "{name}: finite");
        let held = rms(&l[SR as usize / 4..SR as usize]);
        assert!(held > 1e-3, "{name}: the chord sounds (rms {held})");
        assert!(
            rms(&r[SR as usize / 4..SR as usize]) > 1e-3,
            "{name}: right too"
        );
        assert_eq!((l, r), render(), "{name}: the same render twice");
    }
}

#[test]
fn a_live_neural_instance_renders_without_allocating() {
    let (voices, info) = load_live(
        &model_path("tine_keys"),
        DEFAULT_VOICES,
        SR,
        &Default::default(),
    )
    .unwrap();
    let instance =
        PatchInstance::neural("tine_keys_neural", voices, trained_on_effect(&info), SR).unwrap();
    let mut engine = Engine::new(Playable::new(instance), SR);
    let (mut l, mut r) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
    let mut recording = Vec::new();
    let block_time = Duration::from_secs_f32(BLOCK as f32 / SR);
    for i in 0..200 {
        audio_thread(|| {
            if i == 0 {
                for note in CHORD {
                    engine.handle(EngineEvent::NoteOn {
                        note,
                        velocity: 0.8,
                    });
                }
            }
            if i == 100 {
                let mut macros = NEUTRAL_MACROS;
                macros[Macro::Bright.index()] = 0.9;
                macros[Macro::Motion.index()] = 0.8;
                engine.set_macros(macros);
                engine.handle(EngineEvent::PitchBend(0.5));
            }
            if i == 150 {
                engine.handle(EngineEvent::NoteOff { note: CHORD[0] });
            }
            engine.render(&mut l, &mut r);
        });
        recording.extend_from_slice(&l);
        // Real time, roughly: the decoder's thread keeps a few ms ahead of the audio clock.
        std::thread::sleep(block_time);
    }
    assert!(recording.iter().all(|s| s.is_finite()));
    let level = rms(&recording[recording.len() / 4..]);
    assert!(level > 1e-3, "the live chord sounds (rms {level})");
    assert_eq!(engine.current().neural_voices().unwrap().error(), None);
}

#[test]
fn model_names_resolve_and_missing_ones_say_where_they_were_looked_for() {
    assert_eq!(
        shipped_models(),
        ["nylon_pluck", "saw_lead", "tine_keys", "warm_pad"]
    );
    assert_eq!(
        resolve_model("warm_pad").unwrap().canonicalize().unwrap(),
        model_path("warm_pad").canonicalize().unwrap()
    );
    let err = resolve_model("no_such_model").unwrap_err();
    assert!(
        err.contains("no_such_model.onnx") && err.contains("onnx/models"),
        "{err}"
    );
    let spec = PatchSpec::from_model("saw_lead").unwrap();
    assert_eq!(spec.archetype, "lead");
    let text = spec.to_json_pretty();
    assert!(text.contains("\"neural\""), "{text}");
    assert_eq!(PatchSpec::from_json(&text).unwrap(), spec);
    // Specs without `neural` are written as before.
    let plain = PatchSpec::from_builtin(0).unwrap();
    assert!(!plain.to_json_pretty().contains("neural"));
}

#[test]
fn the_worker_plays_a_model_and_a_missing_one_fails_while_the_patch_plays_on() {
    let mut rig = Rig::new("neural", |_| {});
    let hold = |rig: &mut Rig| {
        rig.engine.handle(EngineEvent::NoteOn {
            note: 57,
            velocity: 0.8,
        })
    };
    let real_time = |rig: &mut Rig, seconds: f32| {
        for _ in 0..((seconds * SR) as usize).div_ceil(BLOCK) {
            rig.block();
            std::thread::sleep(Duration::from_secs_f32(BLOCK as f32 / SR));
        }
    };

    rig.worker.play(PatchSpec::from_model("tine_keys").unwrap());
    let status = rig.until_settled();
    assert!(matches!(status.stage, Stage::Live { .. }), "{status:?}");
    rig.until("the model plays", |rig| {
        rig.engine.current().name == "tine_keys_neural" && !rig.engine.is_swapping()
    });
    hold(&mut rig);
    real_time(&mut rig, 0.5);
    let level = rig.rms_of_last(0.3);
    assert!(level > 1e-3, "the neural patch sounds (rms {level})");
    let execution = rig.worker.shared().neural_execution.lock().clone();
    let execution = execution.expect("the worker says where the decoder runs");
    assert!(
        (execution.starts_with("CPU") || execution.starts_with("CUDA"))
            && execution.contains("ONNX Runtime"),
        "{execution}"
    );

    let mut missing = PatchSpec::from_model("tine_keys").unwrap();
    missing.name = "missing".into();
    missing.neural = Some(NeuralSpec {
        model: "no_such_model".into(),
    });
    rig.worker.play(missing);
    let status = rig.until_settled();
    let Stage::Failed(Failure { message, .. }) = &status.stage else {
        panic!("a missing model must fail: {status:?}");
    };
    assert!(
        message.contains("neural.model") && message.contains("no_such_model"),
        "{message}"
    );
    real_time(&mut rig, 0.3);
    assert_eq!(rig.engine.current().name, "tine_keys_neural");
    let level = rig.rms_of_last(0.2);
    assert!(level > 1e-3, "the previous patch plays on (rms {level})");
}

#[test]
fn macros_are_calibrated_on_the_neural_patches() {
    for name in MODELS {
        let report = calibrate(&|| Ok(offline(name, 1))).unwrap();
        println!("### {name}_neural\n\n{}", report.markdown_table());
        let failures: Vec<String> = Macro::ALL
            .iter()
            .filter_map(|&m| Some(format!("{}: {}", m.key(), report.row(m).failure()?)))
            .collect();
        assert!(failures.is_empty(), "{name}: {failures:?}");
    }
}

#[test]
fn an_onnx_runtime_setting_that_cannot_be_used_is_reported_and_the_built_in_plays() {
    let mut rig = Rig::with_settings("bad-onnxruntime", |settings| {
        settings.onnxruntime = Some("/nonexistent/libonnxruntime.so".into())
    });
    rig.until("the worker reports the setting", |rig| {
        matches!(rig.worker.status().stage, Stage::Failed(_))
    });
    let Stage::Failed(Failure { message, .. }) = rig.worker.status().stage else {
        unreachable!("checked above")
    };
    assert!(
        message.contains("/nonexistent/libonnxruntime.so") && message.contains("Settings"),
        "{message}"
    );
    let Stage::Failed(failure) = rig.worker.status().stage else {
        unreachable!("checked above")
    };
    assert_eq!(
        failure.setting,
        Some(mephisto_patch::Setting::OnnxRuntime),
        "the window points at the setting without reading the message"
    );
    rig.engine.handle(EngineEvent::NoteOn {
        note: 57,
        velocity: 0.8,
    });
    rig.seconds(0.3);
    assert!(rig.rms_of_last(0.2) > 1e-3, "the built-in patch plays on");
}
