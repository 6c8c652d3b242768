//! Measured feedback for the LLM designer: once a model's patch builds, the probe the
//! offline designer's analysis check uses is rendered and measured, and compared with what
//! the words asked — the same targets (a brighter sound: the spectral centroid an octave
//! up from the reference; a warmer one: more low-mid energy), measured from the template
//! the offline designer would have started from (or, for a change to the current patch,
//! from that patch) — and with the macro calibration's result for the macros the words
//! move. What misses goes back to the model in one message; every round's figures go into
//! the job's notes.

use mephisto_analysis::Features;
use mephisto_dsp::macros::Macro;
use mephisto_patch::probe::Probe;
use mephisto_patch::{BuildError, BuildSpec, Built, OfflinePatch, PatchSpec};
use mephisto_tuning::calibration::CalibrationReport;

use crate::lexicon::{self, Axis, AxisWeights};
use crate::offline::{self, AskedTarget};

/// What the words asked, measured from a reference.
pub(crate) struct Judge {
    axes: AxisWeights,
    targets: Vec<AskedTarget>,
    /// The reference's measurements and what it is (`the pad template`).
    reference: Option<(Features, String)>,
}

/// How one patch measured against the words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// What misses, one sentence each, for the model.
    pub misses: Vec<String>,
    /// The figures, for the notes.
    pub figures: String,
}

impl Judge {
    /// Reads `prompt` for its targets. `current` is the patch a refinement changes (the
    /// reference then); a new patch's reference is the template of the archetype the words
    /// name, else of `fallback_archetype` (the model's). `measure_current` measures a spec
    /// that is not a built-in's.
    pub fn new(
        prompt: &str,
        current: Option<&PatchSpec>,
        fallback_archetype: &str,
        build: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
    ) -> Judge {
        let reading = lexicon::read(prompt);
        let targets = offline::asked_targets(&reading.axes, current.is_some());
        let reference = if targets.is_empty() {
            None
        } else {
            let (spec, what) = match current {
                Some(current) => (Ok(current.clone()), format!("`{}`", current.name)),
                None => {
                    let archetype = reading.archetype().unwrap_or(fallback_archetype);
                    (
                        offline::template_spec(archetype),
                        format!("the {archetype} template"),
                    )
                }
            };
            let sample_rate = Probe::design_check().sample_rate as f32;
            spec.ok().and_then(|spec| {
                let instantiate = |s: &PatchSpec| match s.instantiate_builtin(1, sample_rate) {
                    Some(result) => result,
                    None => build(s),
                };
                offline::measure(&spec, &instantiate)
                    .ok()
                    .map(|features| (features, what))
            })
        };
        Judge {
            axes: reading.axes,
            targets,
            reference,
        }
    }

    /// Measures a built patch against the words and the calibration.
    pub fn judge(
        &self,
        spec: &PatchSpec,
        built: &Built,
        calibration: Option<&CalibrationReport>,
        graph: bool,
    ) -> Verdict {
        let mut misses = Vec::new();
        let mut figures = Vec::new();
        let sample_rate = Probe::design_check().sample_rate as f32;
        let instantiate = |s: &PatchSpec| built.program.instantiate(s, 1, sample_rate);
        if let Some((reference, what)) = &self.reference {
            match offline::measure(spec, &instantiate) {
                Ok(features) => {
                    for target in &self.targets {
                        let (figure, miss) = compare(target, &features, reference, what, graph);
                        figures.push(figure);
                        misses.extend(miss);
                    }
                }
                Err(e) => figures.push(format!("not measured ({e})")),
            }
        }
        if let Some(report) = calibration {
            figures.push(format!(
                "macros {}/{} pass",
                report.passed(),
                report.rows.len()
            ));
            for row in &report.rows {
                let asked = self.axes[Axis::Macro(row.m).index()].abs() >= 0.1;
                if let (true, Some(why)) = (asked, row.failure()) {
                    misses.push(macro_miss(row.m, &why, graph));
                }
            }
        }
        Verdict {
            misses,
            figures: figures.join(", "),
        }
    }
}

/// One target's figure for the notes, and the sentence for the model when it misses: short
/// of the asked change, or the wrong way.
fn compare(
    target: &AskedTarget,
    features: &Features,
    reference: &Features,
    what: &str,
    graph: bool,
) -> (String, Option<String>) {
    let measured = (target.measure)(features);
    let from = (target.measure)(reference);
    // A goal past what the descriptor can reach (a share above 0.9 of a reference already
    // at 0.89) asks the impossible: it stops at the edge of the reachable range.
    let (low, high) = reachable(target.axis);
    let goal = (from + target.wanted).clamp(low, high.max(low));
    let moved = (measured - goal) * target.wanted.signum() + target.wanted.abs();
    let (show, unit): (fn(f32) -> String, &str) = match target.axis {
        Axis::Macro(Macro::Bright) => (|v| format!("{:.0}", v.exp2()), " Hz"),
        _ => (|v| format!("{v:.2}"), ""),
    };
    let name = match target.axis {
        Axis::Macro(Macro::Bright) => "spectral centroid",
        Axis::Macro(Macro::Warm) => "low-mid (100-600 Hz) share of the energy",
        _ => target.descriptor,
    };
    let figure = format!(
        "{name} {}{unit} (asked {} {}{unit})",
        show(measured),
        if target.wanted > 0.0 { "≥" } else { "≤" },
        show(goal)
    );
    if moved >= target.wanted.abs() {
        return (figure, None);
    }
    let (adjective, how) = match (target.axis, target.wanted > 0.0, graph) {
        (Axis::Macro(Macro::Bright), true, true) => (
            "brighter",
            "raise the filter cutoffs, use saw, square or supersaw, or add drive",
        ),
        (Axis::Macro(Macro::Bright), false, true) => (
            "darker",
            "lower the lowpass cutoffs, use sine or triangle, or remove highpass and drive",
        ),
        (Axis::Macro(Macro::Warm), true, true) => (
            "warmer",
            "add a sine or triangle an octave down (frequency 0.5), or lower the cutoffs",
        ),
        (Axis::Macro(Macro::Warm), false, true) => (
            "thinner",
            "add a highpass, or move the oscillators up an octave",
        ),
        (Axis::Macro(Macro::Bright), true, false) => ("brighter", "open the filter"),
        (Axis::Macro(Macro::Bright), false, false) => ("darker", "close the filter"),
        (Axis::Macro(Macro::Warm), true, false) => ("warmer", "add 100-600 Hz body"),
        (_, _, _) => ("thinner", "take out 100-600 Hz body"),
    };
    let miss = format!(
        "The words ask for a {adjective} sound: the {name} should be {} {}{unit} ({what} \
         measures {}{unit}); yours measures {}{unit}. To fix it: {how}.",
        if target.wanted > 0.0 {
            "at least"
        } else {
            "at most"
        },
        show(goal),
        show(from),
        show(measured),
    );
    (figure, Some(miss))
}

/// The range a target's descriptor can usefully reach: a centroid (in octaves) from 150 Hz
/// to 6 kHz; a low-mid share from 0.05 to 0.9.
fn reachable(axis: Axis) -> (f32, f32) {
    match axis {
        Axis::Macro(Macro::Bright) => (150f32.log2(), 6000f32.log2()),
        _ => (0.05, 0.9),
    }
}

/// The sentence for a macro the words move that does not do what it says on this patch.
fn macro_miss(m: Macro, why: &str, graph: bool) -> String {
    let advice = match (m, graph) {
        (Macro::Warm, true) => "map warm to body",
        (Macro::Bright, true) => "map bright to tone, with a lowpass in the graph",
        (Macro::Grit, true) => "map grit to drive",
        (Macro::Space, true) => "map space to reverb or release, with a sustain above 0",
        (Macro::Motion, true) => "map motion to vibrato, or to modulation with an lfo",
        (Macro::Punch, true) => "map punch to attack",
        (_, false) => "give it a slider that changes what its name says",
    };
    format!(
        "The {} knob the words ask for barely changes this patch ({why}): {advice}.",
        m.display_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(centroid_hz: f32, low_mid_share: f32) -> Features {
        Features {
            centroid_hz,
            low_mid_share,
            ..Features::default()
        }
    }

    #[test]
    fn a_patch_short_of_the_asked_brightness_is_told_by_how_much() {
        let mut axes = AxisWeights::default();
        axes[Axis::Macro(Macro::Bright).index()] = 1.0;
        let targets = offline::asked_targets(&axes, false);
        assert_eq!(targets.len(), 1);
        let reference = features(500.0, 0.3);
        let (figure, miss) = compare(
            &targets[0],
            &features(700.0, 0.3),
            &reference,
            "the pad template",
            true,
        );
        assert_eq!(figure, "spectral centroid 700 Hz (asked ≥ 1000 Hz)");
        let miss = miss.expect("700 Hz is short of an octave above 500 Hz");
        for needle in [
            "brighter",
            "at least 1000 Hz",
            "measures 500 Hz",
            "yours measures 700 Hz",
        ] {
            assert!(miss.contains(needle), "{needle}: {miss}");
        }
        let (_, hit) = compare(&targets[0], &features(1100.0, 0.3), &reference, "x", true);
        assert_eq!(hit, None);
    }

    #[test]
    fn a_goal_out_of_reach_stops_at_the_edge() {
        let mut axes = AxisWeights::default();
        axes[Axis::Macro(Macro::Warm).index()] = 1.0;
        let targets = offline::asked_targets(&axes, false);
        let reference = features(300.0, 0.89);
        let (figure, miss) = compare(&targets[0], &features(300.0, 0.91), &reference, "x", true);
        assert_eq!(
            figure,
            "low-mid (100-600 Hz) share of the energy 0.91 (asked ≥ 0.90)"
        );
        assert_eq!(miss, None);
    }

    #[test]
    fn warmth_asked_the_other_way_is_a_ceiling() {
        let mut axes = AxisWeights::default();
        axes[Axis::Macro(Macro::Warm).index()] = -1.0;
        let targets = offline::asked_targets(&axes, false);
        let (figure, miss) = compare(
            &targets[0],
            &features(800.0, 0.5),
            &features(800.0, 0.4),
            "the lead template",
            true,
        );
        assert_eq!(
            figure,
            "low-mid (100-600 Hz) share of the energy 0.50 (asked ≤ 0.25)"
        );
        assert!(miss.unwrap().contains("thinner"));
    }
}
