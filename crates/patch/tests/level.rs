//! Designed level (docs/LEVEL.md): a spec's output trim scales its output exactly; a
//! designed spec without a trim is levelled to the loudness target when it is built; a
//! program merely too hot for the sanity gate is trimmed instead of refused, and the
//! level limit applies after the trim.

use std::path::Path;

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_dsp::find_builtin;
use mephisto_patch::build::Levelling;
use mephisto_patch::level::{self, LOUDNESS_TARGET_LUFS, PEAK_CEILING_DBFS};
use mephisto_patch::sanity::SanityLimits;
use mephisto_patch::{BuildError, BuildSpec, Builder, OfflinePatch, PatchSpec};
use mephisto_rt::neural::bank::OfflineFlag;

const RATE: f32 = 48_000.0;

fn compiler() -> Compiler {
    Compiler::new(CompilerOptions {
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("level-cache")),
        ..CompilerOptions::default()
    })
}

fn builder(compiler: &Compiler) -> Builder<'_> {
    Builder {
        compiler,
        // Tests never judge speed.
        limits: SanityLimits {
            cpu_budget: f32::INFINITY,
            ..SanityLimits::default()
        },
        sample_rate: RATE,
        offline: OfflineFlag::default(),
    }
}

fn builtin(name: &str) -> PatchSpec {
    PatchSpec::from_builtin(find_builtin(name).unwrap().0).unwrap()
}

fn one_voice(spec: &PatchSpec) -> OfflinePatch {
    spec.instantiate_builtin(1, RATE).unwrap().unwrap()
}

#[test]
fn a_trim_scales_the_output_exactly() {
    let spec = builtin("warm_pad");
    let plain = level::measure(one_voice(&spec));
    let mut trimmed = spec.clone();
    trimmed.trim_db = Some(-6.0);
    let quieter = level::measure(one_voice(&trimmed));
    assert!(
        (plain.lufs - quieter.lufs - 6.0).abs() < 0.01,
        "{plain:?} {quieter:?}"
    );
    assert!((plain.peak_dbfs - quieter.peak_dbfs - 6.0).abs() < 0.01);
}

#[test]
fn a_design_without_a_trim_is_levelled_and_a_played_one_is_not() {
    let compiler = compiler();
    let builder = builder(&compiler);
    let spec = builtin("reese_bass");
    let built = builder
        .build_levelled(&spec, Levelling::Design, &mut |_| {})
        .unwrap();
    let trim = built.trim_db.expect("a design is levelled");
    let mut levelled = spec.clone();
    levelled.trim_db = Some(trim);
    let measured = level::measure(one_voice(&levelled));
    assert!(
        (measured.lufs - LOUDNESS_TARGET_LUFS).abs() < 0.05
            || measured.peak_dbfs <= PEAK_CEILING_DBFS + 0.05,
        "{measured:?}"
    );
    assert!(
        measured.peak_dbfs <= PEAK_CEILING_DBFS + 0.05,
        "{measured:?}"
    );
    // The instance that would play carries the trim.
    assert!((built.instance.output_trim_db() - trim).abs() < 1e-4);
    // Played as it is, the same spec keeps its 0 dB; a designed spec keeps its own trim.
    let played = builder.build(&spec, &mut |_| {}).unwrap();
    assert_eq!(played.trim_db, None);
    assert!(played.instance.output_trim_db().abs() < 1e-4);
    let mut chosen = spec.clone();
    chosen.trim_db = Some(-3.0);
    let kept = builder
        .build_levelled(&chosen, Levelling::Design, &mut |_| {})
        .unwrap();
    assert_eq!(kept.trim_db, None);
    assert!((kept.instance.output_trim_db() + 3.0).abs() < 1e-4);
}

/// A healthy program whose output is merely 40× too loud (peaking about +20 dBFS on the
/// sanity probe, over its +12 dBFS limit).
const HOT: &str = r#"import("stdfaust.lib");
process = os.osc(hslider("freq", 440, 20, 20000, 0.01)) * hslider("gain", 0.5, 0, 1, 0.01)
        * en.asr(0.005, 1, 0.05, button("gate")) * 12.0;"#;

fn hot_spec() -> PatchSpec {
    PatchSpec::from_json(
        &serde_json::json!({
            "version": 1, "name": "hot", "archetype": "lead", "faust": HOT
        })
        .to_string(),
    )
    .unwrap()
}

#[test]
fn a_program_too_hot_for_the_gate_is_trimmed_instead_of_refused() {
    let compiler = compiler();
    let builder = builder(&compiler);
    let built = builder.build(&hot_spec(), &mut |_| {}).unwrap();
    let trim = built.trim_db.expect("trimmed");
    assert!(trim < -20.0, "{trim}");
    let mut levelled = hot_spec();
    levelled.trim_db = Some(trim);
    let measured = level::measure(levelled.instantiate(&compiler, RATE).unwrap());
    assert!(
        (measured.lufs - LOUDNESS_TARGET_LUFS).abs() < 0.1,
        "{measured:?}"
    );

    // The limit still applies after the trim: a spec that asks for +24 dB on top of a
    // program that is already hot is refused only if the trim it is given cannot tame it,
    // which the levelling always can; a limit below the levelled peak refuses it.
    let strict = Builder {
        limits: SanityLimits {
            max_peak_dbfs: -40.0,
            cpu_budget: f32::INFINITY,
            ..SanityLimits::default()
        },
        ..builder
    };
    match strict.build(&hot_spec(), &mut |_| {}) {
        Err(BuildError::Sanity(e)) => assert!(e.to_string().contains("peaks at"), "{e}"),
        Err(other) => panic!("refused for the wrong reason: {other}"),
        Ok(_) => panic!("a peak above the limit after the trim must be refused"),
    }
}
