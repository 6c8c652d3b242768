//! The offline designer (docs/DESIGNER.md): no network, deterministic, fast. A prompt is read
//! with the lexicon into an archetype and axis weights; the archetype picks a built-in
//! template; the weights move the template's parameters along its own macro map (plus the
//! envelope controls for attack and length); then a short render checks the brightness
//! and warmth it reached and pushes further when the words asked for more than the map
//! delivered.
//! Refinement does the same with smaller steps on the current patch.

use mephisto_analysis::Features;
use mephisto_dsp::controllers::{ControllerMap, Route, Source, Target as RouteTarget};
use mephisto_dsp::controls::Control;
use mephisto_dsp::macros::Macro;
use mephisto_dsp::{builtin_patches, find_builtin};
use mephisto_patch::level;
use mephisto_patch::probe::Probe;
use mephisto_patch::{BuildError, BuildSpec, OfflinePatch, PatchSpec};
use mephisto_rt::instance::PatchInstance;

use crate::check::{self, Shifts};
use crate::lexicon::{self, Axis, AxisWeights, ControllerWords, Reading};

/// How far a word of weight 1 moves a parameter, as a share of the macro depth: a full
/// "bright" puts the patch where the Bright macro at 1.0 would.
const DESIGN_REACH: f32 = 1.0;
/// How far one refinement step moves: about a third of a macro's swing, enough to hear
/// and small enough to say it again.
const REFINE_REACH: f32 = 0.35;

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

/// How far from the loudness target "loud" and "quiet" put a patch, in dB at weight 1 (and
/// at most): well inside the ±3 dB every design keeps to, and about twice a level's
/// just-noticeable difference.
const LEVEL_REACH_DB: f32 = 2.5;
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
    /// Axes the analysis check could not bring to what the words asked ("darker: reached
    /// −0.31 of −0.90 oct"), for the status.
    pub misses: Vec<String>,
}

/// How far a design or refinement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The words' own settings, levelled on one try of the level probe, without the
    /// analysis check: what plays first while the checked design is made (sound first).
    Draft,
    /// The words' settings corrected by the analysis check, then levelled: the design.
    Checked,
}

/// Designs a new patch from `prompt`. Always returns a playable patch: without any known
/// word it is the default template as designed.
pub fn design(prompt: &str) -> Result<OfflineDesign, String> {
    design_pass(prompt, Pass::Checked)
}

/// [`design`] or its draft: the same template, name and controllers, the words' settings
/// before the analysis check corrects them.
pub fn design_pass(prompt: &str, pass: Pass) -> Result<OfflineDesign, String> {
    design_with_lanes(prompt, check::lanes(), pass)
}

/// [`design_pass`], with the analysis check playing up to `lanes` tries at once (the design
/// is the same for any number).
pub fn design_with_lanes(prompt: &str, lanes: usize, pass: Pass) -> Result<OfflineDesign, String> {
    let reading = lexicon::read(prompt);
    let archetype = reading
        .archetype()
        .unwrap_or_else(|| archetype_from_shape(&reading.axes));
    design_reading(prompt, &reading, archetype, Shape { lanes, pass })
}

/// How the analysis check plays and whether it runs.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// How many of the check's tries play at once.
    lanes: usize,
    pass: Pass,
}

/// The built-in that plays an archetype when the prompt names no particular template;
/// archetypes not listed take their first built-in.
const DEFAULT_TEMPLATES: [(&str, &str); 4] = [
    ("bass", "sub_bass"),
    ("lead", "saw_lead"),
    ("mallet", "wood_mallet"),
    ("woodwind", "breath_flute"),
];

/// Changes `current` as `request` asks ("warmer", "shorter tail", "more like a bell").
/// Naming another instrument starts again from that instrument's template with the
/// current patch's words and the new ones; otherwise the current parameters move a step
/// along the asked axes. `build` makes a playable instance of a spec whose program is not
/// a built-in's (through the runtime compiler); it is only used for the analysis check.
pub fn refine(
    current: &PatchSpec,
    request: &str,
    build: &check::Build<'_>,
) -> Result<OfflineDesign, String> {
    refine_pass(current, request, build, Pass::Checked)
}

/// [`refine`] or its draft (see [`Pass`]).
pub fn refine_pass(
    current: &PatchSpec,
    request: &str,
    build: &check::Build<'_>,
    pass: Pass,
) -> Result<OfflineDesign, String> {
    let asked = lexicon::read(request);
    let prompt = join_prompts(&current.prompt, request);
    let shape = Shape {
        lanes: check::lanes(),
        pass,
    };
    if let Some(archetype) = asked.archetype().filter(|a| *a != current.archetype) {
        let mut combined = lexicon::read(&current.prompt);
        for (sum, add) in combined.axes.iter_mut().zip(asked.axes) {
            *sum = (*sum + add).clamp(-lexicon::AXIS_LIMIT, lexicon::AXIS_LIMIT);
        }
        combined.controllers = merge_words(&combined.controllers, &asked.controllers);
        combined.unknown = asked.unknown;
        combined.template_votes = asked.template_votes;
        combined.reinterpreted = asked.reinterpreted;
        return design_reading(&prompt, &combined, archetype, shape);
    }
    let instantiate =
        |spec: &PatchSpec| match spec.instantiate_builtin(1, Probe::level().sample_rate as f32) {
            Some(result) => result,
            None => build(spec),
        };
    let instance = instantiate(current)?;
    let controls: Vec<Control> = instance.controls().map(|(c, _)| c.clone()).collect();
    let mut spec = current.clone();
    spec.prompt = prompt;
    spec.controllers = with_controller_words(&current.controllers, &asked.controllers);
    let mut notes = vec![format!(
        "refined `{}`: {}",
        current.name,
        describe(&asked.axes)
    )];
    if !asked.controllers.is_empty() {
        notes.push(format!("controllers: {}", spec.controllers.describe()));
    }
    let level = lexicon::read(&spec.prompt).axis(Axis::Level);
    let shaping = Shaping {
        controls: &controls,
        axes: &asked.axes,
        reach: REFINE_REACH,
        level,
        shape,
    };
    let misses = shaping.apply(&mut spec, current, &mut notes, &instantiate)?;
    Ok(OfflineDesign {
        spec,
        unknown: asked.unknown,
        notes,
        misses,
    })
}

fn design_reading(
    prompt: &str,
    reading: &Reading,
    archetype: &str,
    shape: Shape,
) -> Result<OfflineDesign, String> {
    let index = template_for(archetype, reading);
    let template = &builtin_patches()[index];
    let mut spec = PatchSpec::from_builtin(index)?;
    spec.name = patch_name(reading, template.name);
    spec.prompt = prompt.trim().to_string();
    let instance = PatchInstance::builtin(index, 1, Probe::level().sample_rate as f32)?;
    let controls: Vec<Control> = instance.controls().map(|(c, _)| c.clone()).collect();
    spec.controllers = with_controller_words(&ControllerMap::default(), &reading.controllers);
    let mut notes = vec![format!(
        "offline designer: {archetype} from the `{}` template; {}",
        template.name,
        describe(&reading.axes)
    )];
    if !reading.controllers.is_empty() {
        notes.push(format!("controllers: {}", spec.controllers.describe()));
    }
    let reinterpreted = reinterpretation_note(reading);
    if !reinterpreted.is_empty() {
        notes.push(reinterpreted);
    }
    let build = |s: &PatchSpec| {
        s.instantiate_builtin(1, Probe::level().sample_rate as f32)
            .expect("the spec carries the template's program")
    };
    let reference = spec.clone();
    let shaping = Shaping {
        controls: &controls,
        axes: &reading.axes,
        reach: DESIGN_REACH,
        level: reading.axis(Axis::Level),
        shape,
    };
    let misses = shaping.apply(&mut spec, &reference, &mut notes, &build)?;
    spec.notes = format!("{} {}", template.description, notes.join("; "));
    Ok(OfflineDesign {
        spec,
        unknown: reading.unknown.clone(),
        notes,
        misses,
    })
}

/// What the words ask of a patch's controls.
struct Shaping<'a> {
    controls: &'a [Control],
    axes: &'a AxisWeights,
    /// How far a weight of 1 moves (a design's full step or a refinement's smaller one).
    reach: f32,
    /// The Level axis's weight ("loud", "quiet").
    level: f32,
    shape: Shape,
}

impl Shaping<'_> {
    /// Moves `spec`'s controls along the axes, runs the analysis check against
    /// `reference` (the patch before the words: the template, or the patch refined) unless
    /// this is a draft, and levels the result through the output trim. Adds what it did to
    /// `notes`; returns the axes the check could not bring to what was asked, for the
    /// status.
    fn apply(
        &self,
        spec: &mut PatchSpec,
        reference: &PatchSpec,
        notes: &mut Vec<String>,
        build: &check::Build<'_>,
    ) -> Result<Vec<String>, String> {
        let mut shifts = shifts(self.controls, self.axes, self.reach);
        spec.params = check::params(self.controls, &shifts);
        if self.shape.pass == Pass::Draft {
            let loudness = level::measure(build(spec)?);
            notes.push("draft: the words' settings before the analysis check".into());
            notes.push(level_design(spec, self.level, loudness));
            return Ok(Vec::new());
        }
        let before = || {
            let played = level::play(build(reference)?);
            Ok(check::features(
                &played,
                &mut mephisto_analysis::Analyzer::without_pitch(),
            ))
        };
        let checked = check::check(
            spec,
            self.controls,
            &mut shifts,
            self.axes,
            self.reach,
            &before,
            build,
            self.shape.lanes,
        )?;
        if !checked.note.is_empty() {
            notes.push(checked.note);
        }
        if !checked.misses.is_empty() {
            notes.push(format!("still short: {}", checked.misses.join("; ")));
        }
        notes.push(level_design(spec, self.level, checked.loudness));
        Ok(checked.misses)
    }
}

/// The built-in template for an archetype: the one the prompt's instrument words name
/// ("marimba" → `wood_mallet`), else the archetype's default ([`DEFAULT_TEMPLATES`], or its
/// first built-in).
fn template_for(archetype: &str, reading: &Reading) -> usize {
    let patches = builtin_patches();
    let named = reading
        .template(|name| find_builtin(name).is_some_and(|(_, p)| p.archetype == archetype))
        .or_else(|| {
            DEFAULT_TEMPLATES
                .iter()
                .find(|(a, _)| *a == archetype)
                .map(|(_, t)| *t)
        })
        .and_then(find_builtin)
        .map(|(index, _)| index);
    named
        .or_else(|| patches.iter().position(|p| p.archetype == archetype))
        .or_else(|| {
            patches
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

/// Each control's normalised shift from its designed position after moving by
/// `reach · Σ weight · depth` over the axes: the macro axes through the patch's own macro
/// map, Attack and Length through [`ATTACK_CONTROLS`] and [`LENGTH_CONTROLS`].
fn shifts(controls: &[Control], axes: &AxisWeights, reach: f32) -> Shifts {
    controls
        .iter()
        .map(|c| reach * control_shift(c, axes))
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

/// What was read as another word: "read 'britgh' as 'bright' (typo), read 'dunkler' as
/// 'dark' (German)". Inflections ("growled") are left out: they are plainly the word.
fn reinterpretation_note(reading: &Reading) -> String {
    let parts: Vec<String> = reading
        .reinterpreted
        .iter()
        .filter(|r| !matches!(r.why, lexicon::Why::Inflection))
        .map(ToString::to_string)
        .collect();
    parts.join(", ")
}

/// `base` with the controllers the words give a job to doing that job instead: each
/// macro axis the words push becomes a route to that macro with the weight as its depth; a
/// bend range replaces the old one. Controllers the words do not name keep their routes.
fn with_controller_words(base: &ControllerMap, words: &ControllerWords) -> ControllerMap {
    let mut map = base.clone();
    for (source, weights) in [
        (Source::ModWheel, &words.mod_wheel),
        (Source::Velocity, &words.velocity),
        (Source::Aftertouch, &words.aftertouch),
    ] {
        let Some(weights) = weights else {
            continue;
        };
        let routes: Vec<Route> = Macro::ALL
            .into_iter()
            .map(|m| (m, weights[Axis::Macro(m).index()]))
            .filter(|(_, w)| w.abs() >= 0.05)
            .map(|(m, w)| Route {
                target: RouteTarget::Macro(m),
                depth: w.clamp(-1.0, 1.0),
            })
            .collect();
        *map.routes_mut(source) = routes;
    }
    if let Some(range) = words.bend_range {
        map.bend_range = Some(range);
    }
    map
}

/// The controller jobs of an earlier prompt with a later one's replacing those it names.
fn merge_words(earlier: &ControllerWords, later: &ControllerWords) -> ControllerWords {
    ControllerWords {
        mod_wheel: later.mod_wheel.or(earlier.mod_wheel),
        velocity: later.velocity.or(earlier.velocity),
        aftertouch: later.aftertouch.or(earlier.aftertouch),
        bend_range: later.bend_range.or(earlier.bend_range),
    }
}

/// Levels `spec`, measured as `measured` with its current trim, to the loudness target
/// plus what the Level axis asks ("loud": up to +[`LEVEL_REACH_DB`]), through its output
/// trim; returns the note that says so.
fn level_design(spec: &mut PatchSpec, level_weight: f32, measured: level::Loudness) -> String {
    let offset = (level_weight * LEVEL_REACH_DB).clamp(-LEVEL_REACH_DB, LEVEL_REACH_DB);
    let trim = level::trim_for(measured, spec.trim_db.unwrap_or(0.0), offset);
    spec.trim_db = Some(trim);
    let aim = if offset == 0.0 {
        String::new()
    } else {
        format!(" {offset:+.1} dB")
    };
    format!(
        "levelled to {:.0} LUFS{aim}: trim {trim:+.1} dB",
        level::LOUDNESS_TARGET_LUFS
    )
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

/// The targets the model's feedback measures for `axes` (words of weight under 0.1 ask
/// nothing): brightness and warmth on the analysis check's scales (`crate::check`), a new
/// design reaching as far as the offline designer's, a refinement a step.
pub(crate) fn asked_targets(axes: &AxisWeights, refinement: bool) -> Vec<AskedTarget> {
    let reach = if refinement {
        REFINE_REACH
    } else {
        DESIGN_REACH
    };
    [
        (lexicon::BRIGHT, "centroid (octaves)"),
        (lexicon::WARM, "low-mid share"),
    ]
    .into_iter()
    .filter(|(axis, _)| axes[axis.index()].abs() >= 0.1)
    .filter_map(|(axis, descriptor)| {
        let (measure, per_weight) = check::scale(axis)?;
        Some(AskedTarget {
            axis,
            descriptor,
            measure,
            wanted: per_weight * axes[axis.index()] * reach,
        })
    })
    .collect()
}

/// The template the offline designer would start from for `archetype`, as designed: the
/// reference a new patch's targets are measured from.
pub(crate) fn template_spec(archetype: &str) -> Result<PatchSpec, String> {
    PatchSpec::from_builtin(template_for(archetype, &Reading::default()))
}

/// The analysis check's probe (the level probe, C3), rendered and measured.
pub(crate) fn measure(
    spec: &PatchSpec,
    build: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<Features, String> {
    let played = level::play(build(spec)?);
    Ok(check::features(
        &played,
        &mut mephisto_analysis::Analyzer::new(),
    ))
}
