//! The offline designer (docs/DESIGNER.md): no network, deterministic, fast. A prompt is read
//! with the lexicon into an archetype and axis weights; the archetype picks a built-in
//! template; the weights move the template's parameters along its own macro map (plus the
//! envelope controls for attack and length); then a short render checks the brightness
//! and warmth it reached and pushes further when the words asked for more than the map
//! delivered.
//! Refinement does the same with smaller steps on the current patch.

use std::collections::BTreeMap;

use mephisto_analysis::Features;
use mephisto_dsp::builtin_patches;
use mephisto_dsp::controls::Control;
use mephisto_dsp::macros::{Macro, NEUTRAL_MACROS};
use mephisto_patch::probe::Probe;
use mephisto_patch::render::render_score;
use mephisto_patch::{BuildError, BuildSpec, OfflinePatch, PatchSpec};
use mephisto_rt::instance::PatchInstance;

use crate::lexicon::{self, Axis, AxisWeights, Reading};

/// How far a word of weight 1 moves a parameter, as a share of the macro depth: a full
/// "bright" puts the patch where the Bright macro at 1.0 would.
const DESIGN_REACH: f32 = 1.0;
/// How far one refinement step moves: about a third of a macro's swing, enough to hear
/// and small enough to say it again.
const REFINE_REACH: f32 = 0.35;

/// How close to either end of its range (as a share of the range) the words may push a
/// control: a designed value at a limit leaves the macros that move it only one way to go,
/// and a filter closed or a layer silenced at its limit takes the macros that act through
/// it down too (a "dark" bass whose filter shut stopped its Motion growling). A template's
/// own value closer to a limit stays where it is.
const LIMIT_MARGIN: f32 = 0.05;

/// Envelope controls moved by the axes the macros do not own, by label: (label, depth).
/// Attack moves attack times; Length moves decays, releases and the tails that follow them.
const ATTACK_CONTROLS: [(&str, f32); 1] = [("attack", 0.7)];
const LENGTH_CONTROLS: [(&str, f32); 6] = [
    ("decay", 0.6),
    ("release", 0.6),
    ("perc_decay", 0.5),
    ("filter_decay", 0.4),
    ("sweep_time", 0.4),
    ("reverb_time", 0.3),
];

/// The centroid change, in octaves, that a Bright weight of 1 asks for.
const OCTAVES_PER_BRIGHT: f32 = 1.0;
/// The change of the low-mid energy share that a Warm weight of 1 asks for.
const LOW_MID_PER_WARM: f32 = 0.15;
/// How far past its target an axis may go before the analysis check eases it back (a
/// "dark" drone whose filter closes completely loses its movement too).
const OVERSHOOT: f32 = 2.0;
/// The most level a push of the analysis check may cost before the try is refused.
const MAX_LEVEL_LOSS_DB: f32 = 12.0;
/// Extra pushes the analysis check may make.
const NUDGE_ROUNDS: usize = 2;
/// The archetype when the prompt names none and its shape words suggest none.
const FALLBACK_ARCHETYPE: &str = "pad";

/// A designed patch and what the designer wants the producer to know.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineDesign {
    pub spec: PatchSpec,
    /// Words of the prompt the lexicon does not know, in order.
    pub unknown: Vec<String>,
    /// One-line notes: the template chosen, what the analysis check did.
    pub notes: Vec<String>,
}

/// Designs a new patch from `prompt`. Always returns a playable patch: without any known
/// word it is the default template as designed.
pub fn design(prompt: &str) -> Result<OfflineDesign, String> {
    let reading = lexicon::read(prompt);
    let archetype = reading
        .archetype()
        .unwrap_or_else(|| archetype_from_shape(&reading.axes));
    design_reading(prompt, &reading, archetype)
}

/// Changes `current` as `request` asks ("warmer", "shorter tail", "more like a bell").
/// Naming another instrument starts again from that instrument's template with the
/// current patch's words and the new ones; otherwise the current parameters move a step
/// along the asked axes. `build` makes a playable instance of a spec whose program is not
/// a built-in's (through the runtime compiler); it is only used for the analysis check.
pub fn refine(
    current: &PatchSpec,
    request: &str,
    build: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<OfflineDesign, String> {
    let asked = lexicon::read(request);
    let prompt = join_prompts(&current.prompt, request);
    if let Some(archetype) = asked.archetype().filter(|a| *a != current.archetype) {
        let mut combined = lexicon::read(&current.prompt);
        for (sum, add) in combined.axes.iter_mut().zip(asked.axes) {
            *sum = (*sum + add).clamp(-1.0, 1.0);
        }
        combined.unknown = asked.unknown;
        return design_reading(&prompt, &combined, archetype);
    }
    let instantiate = |spec: &PatchSpec| match spec
        .instantiate_builtin(1, Probe::design_check().sample_rate as f32)
    {
        Some(result) => result,
        None => build(spec),
    };
    let instance = instantiate(current)?;
    let controls: Vec<Control> = instance.controls().map(|(c, _)| c.clone()).collect();
    let mut spec = current.clone();
    spec.prompt = prompt;
    spec.params = shifted_params(&controls, &asked.axes, REFINE_REACH);
    let mut notes = vec![format!(
        "refined `{}`: {}",
        current.name,
        describe(&asked.axes)
    )];
    if let Some(note) = nudge_toward_targets(
        &mut spec,
        &controls,
        &asked.axes,
        REFINE_REACH,
        &instantiate,
    ) {
        notes.push(note);
    }
    Ok(OfflineDesign {
        spec,
        unknown: asked.unknown,
        notes,
    })
}

fn design_reading(
    prompt: &str,
    reading: &Reading,
    archetype: &str,
) -> Result<OfflineDesign, String> {
    let index = template_for(archetype);
    let template = &builtin_patches()[index];
    let mut spec = PatchSpec::from_builtin(index)?;
    spec.name = patch_name(reading, template.name);
    spec.prompt = prompt.trim().to_string();
    let instance = PatchInstance::builtin(index, 1, Probe::design_check().sample_rate as f32)?;
    let controls: Vec<Control> = instance.controls().map(|(c, _)| c.clone()).collect();
    spec.params = shifted_params(&controls, &reading.axes, DESIGN_REACH);
    let mut notes = vec![format!(
        "offline designer: {archetype} from the `{}` template; {}",
        template.name,
        describe(&reading.axes)
    )];
    let build = |s: &PatchSpec| {
        s.instantiate_builtin(1, Probe::design_check().sample_rate as f32)
            .expect("the spec carries the template's program")
    };
    if let Some(note) =
        nudge_toward_targets(&mut spec, &controls, &reading.axes, DESIGN_REACH, &build)
    {
        notes.push(note);
    }
    spec.notes = format!("{} {}", template.description, notes.join("; "));
    Ok(OfflineDesign {
        spec,
        unknown: reading.unknown.clone(),
        notes,
    })
}

/// The built-in template for an archetype: the first built-in patch of that kind.
fn template_for(archetype: &str) -> usize {
    builtin_patches()
        .iter()
        .position(|p| p.archetype == archetype)
        .or_else(|| {
            builtin_patches()
                .iter()
                .position(|p| p.archetype == FALLBACK_ARCHETYPE)
        })
        .unwrap_or(0)
}

/// An archetype guessed from shape words when the prompt names no instrument: short and
/// punchy is a pluck, slow or long is a pad.
fn archetype_from_shape(axes: &AxisWeights) -> &'static str {
    let (punch, length, attack) = (
        axes[Axis::Macro(Macro::Punch).index()],
        axes[Axis::Length.index()],
        axes[Axis::Attack.index()],
    );
    if attack <= 0.0 && (length < -0.2 || punch > 0.3) {
        "pluck"
    } else {
        FALLBACK_ARCHETYPE
    }
}

/// Every control's designed value after moving its normalised position by
/// `reach · Σ weight · depth` over the axes: the macro axes through the patch's own macro
/// map, Attack and Length through [`ATTACK_CONTROLS`] and [`LENGTH_CONTROLS`].
fn shifted_params(controls: &[Control], axes: &AxisWeights, reach: f32) -> BTreeMap<String, f32> {
    controls
        .iter()
        .map(|c| {
            let shift = reach * control_shift(c, axes);
            let value = if shift == 0.0 {
                c.init
            } else {
                let designed = c.normalize(c.init);
                let (low, high) = (designed.min(LIMIT_MARGIN), designed.max(1.0 - LIMIT_MARGIN));
                c.denormalize((designed + shift).clamp(low, high))
            };
            (c.label.clone(), value)
        })
        .collect()
}

/// The normalised shift that weights `axes` ask of control `c` at reach 1.
fn control_shift(c: &Control, axes: &AxisWeights) -> f32 {
    let by_macros: f32 = c
        .macro_depths
        .iter()
        .map(|&(m, depth)| depth * axes[Axis::Macro(m).index()])
        .sum();
    let by_label = |table: &[(&str, f32)], axis: Axis| {
        table
            .iter()
            .filter(|(label, _)| *label == c.label)
            .map(|(_, depth)| depth * axes[axis.index()])
            .sum::<f32>()
    };
    by_macros + by_label(&ATTACK_CONTROLS, Axis::Attack) + by_label(&LENGTH_CONTROLS, Axis::Length)
}

/// Renders the probe note and measures it.
fn probe(
    spec: &PatchSpec,
    build: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<Features, String> {
    let instance = build(spec)?;
    let probe = Probe::design_check();
    let mono = render_score(
        instance,
        &probe.score(),
        NEUTRAL_MACROS,
        probe.seconds(),
        probe.sample_rate,
    )
    .mono();
    Ok(Features::measure(
        &mono,
        probe.sample_rate as f32,
        Some(probe.held_s),
    ))
}

/// An axis the analysis check measures: its descriptor on a scale where differences are
/// comparable, and how far a weight of 1 should move it.
struct Target {
    axis: Axis,
    descriptor: &'static str,
    measure: fn(&Features) -> f32,
    per_weight: f32,
}

/// Bright: the centroid should move an octave; Warm: the low-mid (100–600 Hz) share of the
/// energy should move by 0.15 (a clearly fuller or thinner sound on any template).
const TARGETS: [Target; 2] = [
    Target {
        axis: Axis::Macro(Macro::Bright),
        descriptor: "centroid (octaves)",
        measure: |f| f.centroid_hz.max(1.0).log2(),
        per_weight: OCTAVES_PER_BRIGHT,
    },
    Target {
        axis: Axis::Macro(Macro::Warm),
        descriptor: "low-mid share",
        measure: |f| f.low_mid_share,
        per_weight: LOW_MID_PER_WARM,
    },
];

/// The analysis check: for every measured axis the words push (|weight| ≥ 0.1), compares
/// the designed patch with the unshifted one. An axis that fell short of its target (other
/// axes can work against it: drive brightens a "dark" bass) pushes harder; if pushing harder
/// made it worse it pushes more gently instead; an axis past twice its target eases off; at
/// most [`NUDGE_ROUNDS`] extra renders, and the try that got closest to all targets
/// together is kept. Returns what it measured, if anything.
fn nudge_toward_targets(
    spec: &mut PatchSpec,
    controls: &[Control],
    axes: &AxisWeights,
    reach: f32,
    build: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Option<String> {
    let active: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| axes[t.axis.index()].abs() >= 0.1)
        .collect();
    if active.is_empty() {
        return None;
    }
    let mut unshifted = spec.clone();
    unshifted.params = controls.iter().map(|c| (c.label.clone(), c.init)).collect();
    let before = probe(&unshifted, build).ok()?;
    let wanted: Vec<f32> = active
        .iter()
        .map(|t| t.per_weight * axes[t.axis.index()] * reach)
        .collect();
    // Per axis: how far it moved in the asked direction (negative: the wrong way).
    // A try that lost most of its level (a filter closed on the fundamental) is no
    // answer whatever its descriptors say.
    let audible = |after: &Features| after.rms_db > before.rms_db - MAX_LEVEL_LOSS_DB;
    let progress = |after: &Features| -> Vec<f32> {
        active
            .iter()
            .zip(&wanted)
            .map(|(t, w)| ((t.measure)(after) - (t.measure)(&before)) * w.signum())
            .collect()
    };
    // How close a try came: each axis counts up to its target and as much against it; up
    // to twice the target is as good as the target, further overshoots count against it.
    let closeness = |moved: &[f32]| -> f32 {
        moved
            .iter()
            .zip(&wanted)
            .map(|(m, w)| {
                let share = m / w.abs();
                if share > OVERSHOOT {
                    (1.0 + OVERSHOOT - share).max(-1.0)
                } else {
                    share.clamp(-1.0, 1.0)
                }
            })
            .sum()
    };
    let on_target = |m: f32, w: f32| (w.abs()..=OVERSHOOT * w.abs()).contains(&m);
    let mut moved = progress(&probe(spec, build).ok()?);
    let mut best = (closeness(&moved), moved.clone(), spec.params.clone());
    // Each short axis first pushes twice as hard; if that helped it, twice as hard again,
    // otherwise (the mapping turns back on itself, like a damped string that becomes its
    // pick click) half as hard as at first.
    let mut scales = vec![1.0f32; active.len()];
    let mut previous = moved.clone();
    for _ in 0..NUDGE_ROUNDS {
        if moved.iter().zip(&wanted).all(|(m, w)| on_target(*m, *w)) {
            break;
        }
        let mut pushed = *axes;
        for (i, t) in active.iter().enumerate() {
            if moved[i] > OVERSHOOT * wanted[i].abs() {
                scales[i] *= 0.5;
            } else if moved[i] < wanted[i].abs() {
                scales[i] = if scales[i] == 1.0 || moved[i] > previous[i] {
                    scales[i] * 2.0
                } else {
                    0.5
                };
            }
            pushed[t.axis.index()] = axes[t.axis.index()] * scales[i];
        }
        spec.params = shifted_params(controls, &pushed, reach);
        previous = moved;
        let measured = probe(spec, build).ok()?;
        moved = progress(&measured);
        let score = closeness(&moved);
        if audible(&measured) && score > best.0 {
            best = (score, moved.clone(), spec.params.clone());
        }
    }
    let (_, moved, params) = best;
    spec.params = params;
    let parts: Vec<String> = active
        .iter()
        .zip(moved.iter().zip(&wanted))
        .map(|(t, (m, w))| {
            format!(
                "{} moved {:+.2} (asked {w:+.2})",
                t.descriptor,
                m * w.signum()
            )
        })
        .collect();
    Some(format!("analysis check: {}", parts.join(", ")))
}

/// A short readable summary of the weights: `bright −0.8, grit +0.5`.
fn describe(axes: &AxisWeights) -> String {
    let parts: Vec<String> = Axis::ALL
        .iter()
        .filter(|a| axes[a.index()].abs() >= 0.05)
        .map(|a| format!("{} {:+.2}", a.name(), axes[a.index()]))
        .collect();
    if parts.is_empty() {
        "no shaping words, the template as designed".to_string()
    } else {
        parts.join(", ")
    }
}

/// The patch's name: the first few understood words of the prompt joined by underscores,
/// or the template's name when the prompt had none.
fn patch_name(reading: &Reading, template: &str) -> String {
    let words: Vec<&str> = reading
        .understood
        .iter()
        .map(String::as_str)
        .filter(|w| lexicon::is_descriptive(w))
        .take(4)
        .collect();
    if words.is_empty() {
        return template.to_string();
    }
    words
        .join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The prompt a refined patch carries: what was asked first and every change since.
fn join_prompts(first: &str, change: &str) -> String {
    match (first.trim(), change.trim()) {
        ("", change) => change.to_string(),
        (first, "") => first.to_string(),
        (first, change) => format!("{first}; {change}"),
    }
}

// ---------------------------------------------------------------------------------------
// Shared with the LLM designer's measured feedback (`crate::feedback`): the same targets
// the analysis check above uses, for a patch the model wrote.

/// One measured target the words set: the axis, what is measured, and how far from the
/// reference the words ask it to move (in the descriptor's own scale, signed).
pub(crate) struct AskedTarget {
    pub axis: Axis,
    pub descriptor: &'static str,
    pub measure: fn(&Features) -> f32,
    pub wanted: f32,
}

/// The targets the analysis check would aim at for `axes` (words of weight under 0.1 ask
/// nothing), a new design reaching as far as the offline designer's, a refinement a step.
pub(crate) fn asked_targets(axes: &AxisWeights, refinement: bool) -> Vec<AskedTarget> {
    let reach = if refinement {
        REFINE_REACH
    } else {
        DESIGN_REACH
    };
    TARGETS
        .iter()
        .filter(|t| axes[t.axis.index()].abs() >= 0.1)
        .map(|t| AskedTarget {
            axis: t.axis,
            descriptor: t.descriptor,
            measure: t.measure,
            wanted: t.per_weight * axes[t.axis.index()] * reach,
        })
        .collect()
}

/// The template the offline designer would start from for `archetype`, as designed: the
/// reference a new patch's targets are measured from.
pub(crate) fn template_spec(archetype: &str) -> Result<PatchSpec, String> {
    PatchSpec::from_builtin(template_for(archetype))
}

/// The analysis check's probe (middle C), rendered and measured.
pub(crate) fn measure(
    spec: &PatchSpec,
    build: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<Features, String> {
    probe(spec, build)
}
