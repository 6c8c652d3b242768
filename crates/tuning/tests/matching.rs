//! Matching (`mephisto_tuning::matching`): a built-in patch rendered with a few parameters moved far
//! from their designed values is the reference; matching from the designed values must
//! remove most of the spectral loss. The probe is short (the note held 1 s, then 0.3 s).
//! The three matches are heavy (hundreds of renders each); they run in CI because the plugin
//! crate is optimised in dev builds too (see the workspace `Cargo.toml`): about a minute for
//! the three on 2 cores.

use std::time::Instant;

use mephisto_analysis::loss::DDSP_FFT_SIZES;
use mephisto_analysis::{Analyzer, MultiScaleLoss};
use mephisto_dsp::find_builtin;
use mephisto_patch::render::render_default_probe as render_probe;
use mephisto_patch::OfflinePatch;
use mephisto_patch::PatchSpec;
use mephisto_patch::{BuildError, BuildSpec};
use mephisto_tuning::matching::{match_spec, MatchOptions, MatchResult};

const RATE: u32 = 48_000;

/// The test probe's length: the held note and the start of its release.
const PROBE_SECONDS: f64 = 1.3;

/// Renders per match, as `mephisto match` spends by default.
const BUDGET: usize = 300;

/// The share of the initial loss a match must remove.
const REQUIRED_REDUCTION: f32 = 0.8;

fn builtin_spec(name: &str) -> PatchSpec {
    let (index, _) = find_builtin(name).expect("a built-in patch");
    PatchSpec::from_builtin(index).expect("its spec")
}

fn make(spec: &PatchSpec) -> Result<OfflinePatch, BuildError> {
    spec.instantiate_builtin(1, RATE as f32)
        .expect("the program is a built-in's")
}

/// Renders `name` with `hidden` values as the reference and matches it from the designed
/// values.
fn match_hidden(name: &str, hidden: &[(&str, f32)]) -> MatchResult {
    let designed = builtin_spec(name);
    let mut secret = designed.clone();
    for &(label, value) in hidden {
        assert!(secret.params.contains_key(label), "{name} has `{label}`");
        secret.params.insert(label.to_string(), value);
    }
    let target = render_probe(make(&secret).unwrap(), PROBE_SECONDS, RATE);
    let options = MatchOptions {
        max_evaluations: BUDGET,
        ..MatchOptions::default()
    };
    let result = match_spec(&designed, &target, RATE, &options, &make, &mut |_| {}).unwrap();
    eprintln!(
        "{name}: loss {:.3} -> {:.3} ({:.0} % lower) in {} renders, {:.1} s; {:?}",
        result.initial_loss,
        result.final_loss,
        100.0 * result.reduction(),
        result.evaluations,
        result.elapsed.as_secs_f64(),
        hidden
            .iter()
            .map(|(label, v)| (label, v, result.spec.params[*label]))
            .collect::<Vec<_>>()
    );
    assert!(
        result.initial_loss > 1.0,
        "{name}: the hidden values are audible"
    );
    assert!(result.evaluations <= BUDGET);
    assert!(
        result.spec.notes.contains("mephisto match"),
        "the notes tell of the match"
    );
    result
}

fn assert_reduced(name: &str, result: &MatchResult) {
    assert!(
        result.reduction() >= REQUIRED_REDUCTION,
        "{name}: only {:.0} % of the loss removed ({:.3} -> {:.3})",
        100.0 * result.reduction(),
        result.initial_loss,
        result.final_loss
    );
}

#[test]
fn tine_keys_bark_decay_and_body_are_found() {
    let result = match_hidden(
        "tine_keys",
        &[("bark", 0.9), ("decay", 1.0), ("body", -8.0)],
    );
    assert_reduced("tine_keys", &result);
}

#[test]
fn glass_bell_tilt_and_decay_are_found() {
    let result = match_hidden(
        "glass_bell",
        &[("tilt", -1.1), ("decay", 1.0), ("hum", 0.9)],
    );
    assert_reduced("glass_bell", &result);
}

#[test]
fn warm_pad_brightness_attack_and_reverb_are_found() {
    let result = match_hidden(
        "warm_pad",
        &[("cutoff", 5000.0), ("attack", 0.05), ("reverb_mix", 0.7)],
    );
    assert_reduced("warm_pad", &result);
}

#[test]
fn a_matching_reference_is_left_alone() {
    let designed = builtin_spec("sub_bass");
    let target = render_probe(make(&designed).unwrap(), 0.5, RATE);
    let options = MatchOptions {
        max_evaluations: 3,
        ..MatchOptions::default()
    };
    let result = match_spec(&designed, &target, RATE, &options, &make, &mut |_| {}).unwrap();
    assert_eq!(result.initial_loss, 0.0, "renders are deterministic");
    assert_eq!(result.final_loss, 0.0);
    assert_eq!(result.spec.params, designed.params);
}

/// Analysis throughput for docs/BENCHMARKS.md (release):
/// `cargo test --release -p mephisto-tuning --test matching -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn analysis_throughput() {
    let designed = builtin_spec("warm_pad");
    let audio = render_probe(make(&designed).unwrap(), 10.0, RATE);
    let other = render_probe(make(&builtin_spec("saw_lead")).unwrap(), 10.0, RATE);
    let seconds = audio.len() as f64 / RATE as f64;
    let rounds = 10;

    let mut analyzer = Analyzer::new();
    analyzer.measure(&audio, RATE as f32, Some(1.0));
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(analyzer.measure(&audio, RATE as f32, Some(1.0)));
    }
    let measure = rounds as f64 * seconds / started.elapsed().as_secs_f64();

    let mut loss = MultiScaleLoss::new(&DDSP_FFT_SIZES);
    loss.loss(&audio, &other);
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(loss.loss(&audio, &other));
    }
    let compared = rounds as f64 * seconds / started.elapsed().as_secs_f64();
    println!(
        "Analyzer::measure: {measure:.0} s of audio per second; MultiScaleLoss::loss (DDSP sizes, two signals): {compared:.0} s of audio per second"
    );
}
