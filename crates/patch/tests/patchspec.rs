//! PatchSpec v1: JSON round trips, one test per validation rule (each message must name its
//! field), credentials refused, the committed schema kept current, and specs of built-in
//! patches compiled at run time sounding exactly like the built-ins. The compile tests need
//! `faust` and `rustc` on `PATH` (scripts/setup.sh installs them).

use std::path::PathBuf;

use serde_json::{json, Value};

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_dsp::macros::MacroLink;
use mephisto_dsp::macros::{Macro, MacroValues, NEUTRAL_MACROS};
use mephisto_dsp::{builtin_patches, find_builtin};
use mephisto_patch::render::{render_score, StereoAudio};
use mephisto_patch::score::default_score;
use mephisto_patch::spec::{PatchSpec, SpecError};
use mephisto_patch::BuildError;
use mephisto_patch::{BuildSpec, OfflinePatch};
use mephisto_rt::engine::DEFAULT_VOICES;
use mephisto_rt::instance::PatchInstance;

const SCHEMA_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/patchspec.schema.json"
);
const REGENERATE: &str = "cargo test -p mephisto-patch --test patchspec -- --ignored write_schema";

/// A small valid spec to break one field at a time.
fn valid() -> Value {
    json!({
        "version": 1,
        "name": "test_tone",
        "prompt": "a plain sine",
        "archetype": "lead",
        "faust": "import(\"stdfaust.lib\");\nprocess = os.osc(hslider(\"freq\", 440, 20, 2000, 1)) * button(\"gate\");\n",
        "params": { "level": 0.5 },
        "macros": { "bright": [ { "param": "level", "depth": 0.5 } ] },
        "voices": 8,
        "notes": "for tests"
    })
}

/// Parses `document`, expecting an error that names `field` and says `words`.
fn refused(document: &Value, field: &str, words: &str) -> SpecError {
    let error = PatchSpec::from_json(&document.to_string()).expect_err("the spec must be refused");
    let text = error.to_string();
    assert!(
        error.fields().contains(&field),
        "the error should name `{field}`: {text}"
    );
    assert!(
        text.contains(&format!("`{field}`")),
        "the message should name `{field}`: {text}"
    );
    assert!(text.contains(words), "expected `{words}` in: {text}");
    error
}

fn with(field: &str, value: Value) -> Value {
    let mut document = valid();
    document[field] = value;
    document
}

#[test]
fn the_example_spec_is_valid() {
    let spec = PatchSpec::from_json(&valid().to_string()).unwrap();
    assert_eq!(spec.voices, 8);
    assert_eq!(spec.macros.depth(Macro::Bright, "level"), Some(0.5));
}

#[test]
fn json_round_trips() {
    let spec = PatchSpec::from_json(&valid().to_string()).unwrap();
    let text = spec.to_json_pretty();
    assert!(text.ends_with("}\n"));
    assert_eq!(PatchSpec::from_json(&text).unwrap(), spec);
    for i in 0..builtin_patches().len() {
        let spec = PatchSpec::from_builtin(i).unwrap();
        assert_eq!(PatchSpec::from_json(&spec.to_json_pretty()).unwrap(), spec);
    }
}

#[test]
fn optional_fields_take_their_defaults() {
    let document = json!({
        "version": 1,
        "name": "bare",
        "archetype": "fx",
        "faust": "process = 0;",
        "macros": { "warm": [ { "param": "x", "depth": -0.25 } ] }
    });
    let spec = PatchSpec::from_json(&document.to_string()).unwrap();
    assert_eq!(spec.voices, 16);
    assert!(spec.prompt.is_empty() && spec.notes.is_empty() && spec.params.is_empty());
    assert_eq!(
        spec.macros.links().collect::<Vec<_>>(),
        vec![&MacroLink {
            target: Macro::Warm,
            param: "x".into(),
            depth: -0.25,
        }]
    );
}

#[test]
fn version_must_be_1() {
    refused(
        &with("version", json!(2)),
        "version",
        "2 is not supported (this Mephisto reads version 1)",
    );
}

#[test]
fn name_must_not_be_empty() {
    refused(&with("name", json!("  ")), "name", "empty");
}

#[test]
fn archetype_must_be_known() {
    refused(
        &with("archetype", json!("wobble")),
        "archetype",
        "`wobble` is not an archetype (pad, bass, lead, pluck, keys, bell, organ, strings, brass, woodwind, vocal, mallet, drone, metallic, percussion, fx)",
    );
}

#[test]
fn faust_must_not_be_empty() {
    refused(&with("faust", json!("")), "faust", "empty");
}

#[test]
fn faust_must_fit_the_size_limit() {
    let huge = format!("process = 0;\n{}", "// padding\n".repeat(7000));
    refused(
        &with("faust", json!(huge)),
        "faust",
        "KiB a program may have",
    );
}

#[test]
fn voices_must_be_between_1_and_64() {
    refused(&with("voices", json!(0)), "voices", "0 is outside 1..=64");
    refused(&with("voices", json!(65)), "voices", "65 is outside 1..=64");
}

#[test]
fn params_cannot_set_engine_controls() {
    refused(
        &with("params", json!({ "gate": 1.0 })),
        "params.gate",
        "set by the engine",
    );
}

#[test]
fn params_need_a_name() {
    refused(
        &with("params", json!({ "": 1.0 })),
        "params.",
        "empty parameter name",
    );
}

#[test]
fn params_must_be_finite() {
    // JSON has no infinity, but a number too large for f32 becomes one.
    refused(
        &with("params", json!({ "level": 1e300 })),
        "params.level",
        "not a finite number",
    );
}

#[test]
fn macro_keys_must_be_macros() {
    refused(
        &with("macros", json!({ "sparkle": [] })),
        "macros.sparkle",
        "not a macro (warm, bright, grit, space, motion, punch)",
    );
    // One name for one thing: the key is lowercase, as in Faust metadata.
    refused(
        &with("macros", json!({ "Bright": [] })),
        "macros.Bright",
        "not a macro",
    );
}

#[test]
fn macro_depths_must_be_within_minus_1_and_1() {
    refused(
        &with(
            "macros",
            json!({ "bright": [ { "param": "level", "depth": 1.7 } ] }),
        ),
        "macros.bright[0].depth",
        "1.7 is outside -1..1",
    );
}

#[test]
fn macro_targets_need_a_settable_param() {
    refused(
        &with(
            "macros",
            json!({ "punch": [ { "param": "", "depth": 0.1 } ] }),
        ),
        "macros.punch[0].param",
        "empty parameter name",
    );
    refused(
        &with(
            "macros",
            json!({ "punch": [ { "param": "freq", "depth": 0.1 } ] }),
        ),
        "macros.punch[0].param",
        "set by the engine",
    );
}

#[test]
fn macro_targets_are_listed_once_per_macro() {
    refused(
        &with(
            "macros",
            json!({ "grit": [ { "param": "level", "depth": 0.1 }, { "param": "level", "depth": 0.2 } ] }),
        ),
        "macros.grit[1].param",
        "`level` is already listed for grit",
    );
}

#[test]
fn curves_are_linear_in_v1() {
    refused(
        &with(
            "macros",
            json!({ "space": [ { "param": "level", "depth": 0.1, "curve": "exp" } ] }),
        ),
        "macros.space[0].curve",
        "unknown variant `exp`",
    );
}

#[test]
fn required_fields_are_named_when_missing() {
    let mut document = valid();
    document.as_object_mut().unwrap().remove("faust");
    refused(&document, "faust", "missing (the whole Faust program)");
}

#[test]
fn unknown_fields_are_refused() {
    refused(
        &with("tempo", json!(120)),
        "tempo",
        "unknown field (a PatchSpec has: version, name, prompt, archetype, faust, params, macros, controllers, voices, trim_db, notes, neural)",
    );
    refused(
        &with("neural", json!({ "model": "tine_keys", "gpu": true })),
        "neural.gpu",
        "unknown field (`neural` has: model)",
    );
    refused(
        &with(
            "macros",
            json!({ "warm": [ { "param": "level", "depth": 0.1, "amount": 2 } ] }),
        ),
        "macros.warm[0].amount",
        "unknown field (a macro target has: param, depth, curve)",
    );
}

#[test]
fn wrong_types_name_the_field_and_the_position() {
    let text = "{\n  \"version\": 1,\n  \"name\": \"x\",\n  \"archetype\": \"pad\",\n  \"faust\": \"process = 0;\",\n  \"voices\": \"many\"\n}";
    let error = PatchSpec::from_json(text).unwrap_err();
    let SpecError::Syntax { field, line, .. } = &error else {
        panic!("expected a syntax error, got {error}");
    };
    assert_eq!(field.as_deref(), Some("voices"));
    assert_eq!(*line, 6);
    let message = error.to_string();
    assert!(message.starts_with("`voices`: invalid type"), "{message}");
    assert!(message.contains("(line 6, column"), "{message}");

    let error = PatchSpec::from_json(
        &with(
            "macros",
            json!({ "warm": [ { "param": "level", "depth": "deep" } ] }),
        )
        .to_string(),
    )
    .unwrap_err();
    assert_eq!(error.fields(), vec!["macros.warm[0].depth"], "{error}");
}

#[test]
fn broken_json_says_where() {
    let error = PatchSpec::from_json("{\n  \"version\": 1,\n  \"name\": \n}").unwrap_err();
    let message = error.to_string();
    // The field the error is in comes first, then where it is.
    assert!(message.starts_with("`name`: "), "{message}");
    assert!(message.contains("(line 4, column 1)"), "{message}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut document = with("version", json!(3));
    document["voices"] = json!(0);
    document["name"] = json!("");
    let error = PatchSpec::from_json(&document.to_string()).unwrap_err();
    assert_eq!(error.fields(), vec!["version", "name", "voices"], "{error}");
}

#[test]
fn api_keys_never_go_into_a_spec() {
    for name in [
        "api_key",
        "apiKey",
        "key",
        "authorization",
        "OPENAI_API_KEY",
    ] {
        let error = refused(
            &with(name, json!("sk-not-a-real-key")),
            name,
            "API keys and other credentials never go into a PatchSpec",
        );
        assert!(
            !error.to_string().contains("sk-not-a-real-key"),
            "the message must not repeat the key: {error}"
        );
    }
    refused(
        &with(
            "macros",
            json!({ "warm": [ { "param": "level", "depth": 0.1, "api_key": "x" } ] }),
        ),
        "macros.warm[0].api_key",
        "never go into a PatchSpec",
    );
}

#[test]
fn schema_file_is_current() {
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_else(|e| {
        panic!("cannot read {SCHEMA_FILE} ({e}); write it with `{REGENERATE}`")
    });
    let committed: Value = serde_json::from_str(&committed).unwrap_or_else(|e| {
        panic!("{SCHEMA_FILE} is not JSON ({e}); rewrite it with `{REGENERATE}`")
    });
    assert!(
        committed == PatchSpec::json_schema().to_value(),
        "{SCHEMA_FILE} differs from what the PatchSpec types generate; rewrite it with `{REGENERATE}`"
    );
}

/// Rewrites the committed schema from the types (run with `--ignored write_schema`).
#[test]
#[ignore = "writes docs/patchspec.schema.json"]
fn write_schema() {
    std::fs::write(SCHEMA_FILE, PatchSpec::json_schema_text()).unwrap();
}

#[test]
fn every_builtin_patch_makes_a_valid_spec() {
    for (i, patch) in builtin_patches().iter().enumerate() {
        let spec = PatchSpec::from_builtin(i).unwrap_or_else(|e| panic!("{}: {e}", patch.name));
        spec.validate()
            .unwrap_or_else(|e| panic!("{}: {e}", patch.name));
        assert_eq!(spec.name, patch.name);
        assert_eq!(spec.archetype, patch.archetype);
        assert_eq!(spec.faust, patch.source);
        assert_eq!(spec.notes, patch.description);
        let instance = PatchInstance::builtin(i, 1, 48_000.0).unwrap();
        assert_eq!(
            spec.params.len(),
            instance.controls().count(),
            "{}",
            patch.name
        );
        for m in Macro::ALL {
            let pairs = |map: &mephisto_dsp::macros::MacroMap| -> Vec<(String, f32)> {
                map.of(m).map(|t| (t.param.clone(), t.depth)).collect()
            };
            assert_eq!(
                pairs(&spec.macros),
                pairs(&instance.macro_map()),
                "{} {}",
                patch.name,
                m.key()
            );
        }
    }
    assert!(PatchSpec::from_builtin(builtin_patches().len()).is_err());
}

/// A compiler with its own cache folder, removed on drop.
struct Sandbox {
    compiler: Compiler,
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!(
            "mephisto-patchspec-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Sandbox {
            compiler: Compiler::new(CompilerOptions {
                cache_dir: Some(dir.clone()),
                ..CompilerOptions::default()
            }),
            dir,
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const SR: u32 = 48_000;

fn render(instance: impl Into<OfflinePatch>, macros: MacroValues) -> StereoAudio {
    render_score(instance, &default_score(), macros, 1.5, SR)
}

fn max_difference(a: &StereoAudio, b: &StereoAudio) -> f32 {
    a.left
        .iter()
        .zip(&b.left)
        .chain(a.right.iter().zip(&b.right))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn peak(a: &StereoAudio) -> f32 {
    a.left
        .iter()
        .chain(&a.right)
        .map(|x| x.abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_builtin_spec_compiles_and_sounds_like_the_builtin() {
    let sandbox = Sandbox::new("builtin");
    let (index, _) = find_builtin("sub_bass").expect("the sub_bass patch");
    let spec = PatchSpec::from_builtin(index).unwrap();
    let play = |spec: &PatchSpec, macros: MacroValues| {
        let instance = spec
            .instantiate(&sandbox.compiler, SR as f32)
            .unwrap_or_else(|e| panic!("{e}"));
        render(instance, macros)
    };

    let builtin = render(
        PatchInstance::builtin(index, 16, SR as f32).unwrap(),
        NEUTRAL_MACROS,
    );
    let compiled = play(&spec, NEUTRAL_MACROS);
    assert!(peak(&builtin) > 0.05, "the built-in should sound");
    let difference = max_difference(&builtin, &compiled);
    assert!(
        difference <= 1e-4,
        "max |difference| {difference} (is the committed Rust stale? `cargo xtask faust --check`)"
    );

    let mut brighter = NEUTRAL_MACROS;
    brighter[Macro::Bright.index()] = 1.0;
    let builtin_bright = render(
        PatchInstance::builtin(index, 16, SR as f32).unwrap(),
        brighter,
    );
    let compiled_bright = play(&spec, brighter);
    let difference = max_difference(&builtin_bright, &compiled_bright);
    assert!(
        difference <= 1e-4,
        "with bright at 1: max |difference| {difference}"
    );

    // A different designed value is a different sound.
    let mut changed = spec.clone();
    changed.params.insert("cutoff".into(), 4000.0);
    let difference = max_difference(&compiled, &play(&changed, NEUTRAL_MACROS));
    assert!(
        difference > 1e-2,
        "a new cutoff changed too little: {difference}"
    );

    // A new macro map replaces the program's: bright now moves only the sub, warm nothing.
    let mut remapped = spec.clone();
    remapped.macros.clear();
    remapped.macros.push(Macro::Bright, "sub_level", -1.0);
    let difference = max_difference(&compiled_bright, &play(&remapped, brighter));
    assert!(
        difference > 1e-2,
        "a new macro map changed too little: {difference}"
    );
    let mut warmer = NEUTRAL_MACROS;
    warmer[Macro::Warm.index()] = 1.0;
    assert_eq!(
        max_difference(&compiled, &play(&remapped, warmer)),
        0.0,
        "warm is no longer mapped, so it must change nothing"
    );
}

#[test]
fn instantiate_errors_name_the_field() {
    let sandbox = Sandbox::new("errors");
    let spec = PatchSpec::from_json(&valid().to_string()).unwrap();

    let error = match spec.instantiate(&sandbox.compiler, SR as f32) {
        Ok(_) => panic!("`level` does not exist in the program"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.starts_with("`params.level`: the patch has no parameter `level`"),
        "{error}"
    );

    let mut spec = spec;
    spec.params.clear();
    let error = match spec.instantiate(&sandbox.compiler, SR as f32) {
        Ok(_) => panic!("the macro target `level` does not exist in the program"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.starts_with("`macros.bright[0].param`: the patch has no parameter `level`"),
        "{error}"
    );

    spec.macros.clear();
    let instance = spec.instantiate(&sandbox.compiler, SR as f32).unwrap();
    // Every instance has the engine's voices; the spec's `voices` limits the polyphony.
    assert_eq!(instance.voice_count(), DEFAULT_VOICES);
    assert_eq!(instance.polyphony(), 8);
    assert_eq!(instance.name, "test_tone");

    spec.faust = "process = os.osc(440);".into();
    let error = match spec.instantiate(&sandbox.compiler, SR as f32) {
        Ok(_) => panic!("the program does not import stdfaust.lib"),
        Err(e) => e,
    };
    assert!(matches!(error, BuildError::Compile(_)), "{error:?}");
    assert_eq!(
        error.program_lines().first().map(|l| l.line),
        Some(1),
        "the Faust error's line travels as data"
    );
    assert!(error.to_string().starts_with("`faust`: "), "{error}");

    spec.voices = 0;
    let error = match spec.instantiate(&sandbox.compiler, SR as f32) {
        Ok(_) => panic!("0 voices is invalid"),
        Err(e) => e,
    };
    assert!(matches!(error, BuildError::Spec(_)), "{error:?}");
    assert!(error.to_string().starts_with("`voices`: "), "{error}");
}

#[test]
fn the_documented_example_plays() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PATCHSPEC.md"
    ))
    .unwrap();
    let example = doc
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("docs/PATCHSPEC.md has a ```json example");
    let spec = PatchSpec::from_json(example).unwrap_or_else(|e| panic!("{e}"));
    let sandbox = Sandbox::new("example");
    let instance = spec
        .instantiate(&sandbox.compiler, SR as f32)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(peak(&render(instance, NEUTRAL_MACROS)) > 0.05);
}

#[test]
fn controllers_round_trip_and_reach_the_instance() {
    use mephisto_dsp::controllers::{Source, Target};
    let document = with(
        "controllers",
        json!({
            "mod_wheel": [ { "macro": "grit", "depth": 0.7 } ],
            "velocity": [ { "param": "level", "depth": 0.3 } ],
            "bend_range": 12
        }),
    );
    let spec = PatchSpec::from_json(&document.to_string()).unwrap();
    assert_eq!(
        spec.controllers.routes(Source::ModWheel)[0].target,
        Target::Macro(Macro::Grit)
    );
    assert_eq!(PatchSpec::from_json(&spec.to_json_pretty()).unwrap(), spec);
    // A spec without controllers writes none.
    let plain = PatchSpec::from_json(&valid().to_string()).unwrap();
    assert!(!plain.to_json_pretty().contains("controllers"));
    // The instance plays the map.
    let (index, _) = find_builtin("saw_lead").unwrap();
    let mut builtin = PatchSpec::from_builtin(index).unwrap();
    builtin.controllers = spec.controllers.clone();
    builtin.controllers.velocity[0].target = Target::Param("cutoff".into());
    let instance = builtin.instantiate_builtin(1, 48_000.0).unwrap().unwrap();
    assert_eq!(instance.controller_map(), &builtin.controllers);
    assert_eq!(instance.bend_range(), 12.0);
    // A route to a control the program lacks names its field.
    builtin.controllers.velocity[0].target = Target::Param("wobble".into());
    let Err(e) = builtin.instantiate_builtin(1, 48_000.0).unwrap() else {
        panic!("a route to a missing control must be refused");
    };
    assert!(
        e.to_string().contains("controllers.velocity[0].param"),
        "{e}"
    );
}

#[test]
fn controller_routes_are_checked() {
    let route = |r: Value| with("controllers", json!({ "aftertouch": [ r ] }));
    refused(
        &route(json!({ "macro": "warm", "depth": 1.5 })),
        "controllers.aftertouch[0].depth",
        "outside -1..1",
    );
    refused(
        &route(json!({ "param": "gate", "depth": 0.5 })),
        "controllers.aftertouch[0].param",
        "set by the engine",
    );
    refused(
        &route(json!({ "macro": "warm", "depth": 0.5, "curve": "linear" })),
        "controllers.aftertouch[0].curve",
        "unknown field",
    );
    refused(
        &with("controllers", json!({ "bend_range": 60 })),
        "controllers.bend_range",
        "outside 0..48",
    );
    refused(
        &with("controllers", json!({ "pedal": [] })),
        "controllers.pedal",
        "unknown field",
    );
}
