//! Synth graphs: a small patch language that Mephisto turns into Faust itself
//! (docs/PATCHSPEC.md, "Synth graphs"). It is what small language models are asked for:
//! every choice is an enum, nodes are referenced by their position in a list, and every
//! number is clamped into its range when the graph is converted, so **any reply that has
//! the schema's shape is a graph that compiles** — exactly what a JSON grammar (which
//! enforces keys, types, enums and item counts, but not number ranges) can guarantee.
//!
//! A graph is the voice's audio nodes (oscillators, noise, FM, filters, shapers), each
//! processor taking an earlier node as its input; an amplitude envelope; modulators
//! (LFOs, envelopes, random drift) that move a node; stereo effects after the voices are
//! summed (chorus, delay, reverb); which control each of the six macros moves; what the
//! key velocity moves; and which macros the mod wheel, velocity and aftertouch push. [`SynthGraph::to_spec`] writes the PatchSpec: the generated program
//! (with the graph itself in a comment, so a refinement can send the graph back), every
//! control's designed value and the macro map.

mod faust;
mod level;

use std::collections::BTreeMap;
use std::fmt;

use mephisto_dsp::controllers::{ControllerMap, Route, Target, DEFAULT_BEND_RANGE, MAX_BEND_RANGE};
use mephisto_dsp::macros::{Macro, MacroMap};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::{PatchSpec, Problem, SpecError, ARCHETYPES, DEFAULT_VOICES, SPEC_VERSION};

pub use level::{normalize_level, LEVEL_CONTROL, TARGET_PEAK};

/// The most audio nodes a voice may have.
pub const MAX_NODES: usize = 8;
/// The most modulators.
pub const MAX_MODULATORS: usize = 4;
/// The most effects after the voices.
pub const MAX_EFFECTS: usize = 3;
/// The most macros one controller pushes.
pub const MAX_ROUTES: usize = 3;
/// The longest name kept (longer ones are cut).
pub const MAX_NAME_CHARS: usize = 40;

/// The line of a generated program that carries its graph.
const GRAPH_LINE: &str = "// graph: ";

/// A synth graph: one voice and the effects after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Mephisto synth graph")]
pub struct SynthGraph {
    /// A short snake_case name for the sound, e.g. `glass_pad`.
    #[schemars(length(max = 40))]
    pub name: String,
    /// The kind of instrument.
    #[schemars(schema_with = "archetype_schema")]
    pub archetype: String,
    /// The voice's audio nodes, in order. A processor takes an earlier node (by position)
    /// as its input; the nodes no other node takes as input are summed into the voice.
    #[schemars(length(min = 1, max = 8))]
    pub nodes: Vec<Node>,
    /// The voice's amplitude envelope.
    #[serde(default)]
    pub envelope: Envelope,
    /// LFOs, envelopes and drift, each moving one node.
    #[serde(default)]
    #[schemars(length(max = 4))]
    pub modulators: Vec<Modulator>,
    /// Stereo effects after the voices are summed, in order.
    #[serde(default)]
    #[schemars(length(max = 3))]
    pub effects: Vec<Effect>,
    /// Which control each macro knob moves.
    #[serde(default)]
    pub macros: MacroChoices,
    /// What the key velocity moves.
    #[serde(default)]
    pub velocity: Velocity,
    /// Which macros the player's controllers push, and the pitch wheel's range.
    #[serde(default, skip_serializing_if = "Controllers::is_default")]
    pub controllers: Controllers,
}

/// What the player's controllers do in a graph: the mod wheel, velocity (how hard a note is
/// played, per note) and aftertouch each push up to [`MAX_ROUTES`] macros by a depth
/// (docs/PATCHSPEC.md, `controllers`), and the pitch wheel bends by `bend_range`. An empty
/// `mod_wheel` leaves the wheel on Motion, as on every patch (a graph cannot switch it off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Controllers {
    #[serde(default)]
    #[schemars(length(max = 3))]
    pub mod_wheel: Vec<ControllerRoute>,
    #[serde(default)]
    #[schemars(length(max = 3))]
    pub velocity: Vec<ControllerRoute>,
    #[serde(default)]
    #[schemars(length(max = 3))]
    pub aftertouch: Vec<ControllerRoute>,
    /// Semitones each way.
    #[serde(default = "default_bend_range")]
    #[schemars(range(min = 0.0, max = 48.0))]
    pub bend_range: f64,
}

fn default_bend_range() -> f64 {
    DEFAULT_BEND_RANGE as f64
}

impl Default for Controllers {
    fn default() -> Self {
        Controllers {
            mod_wheel: Vec::new(),
            velocity: Vec::new(),
            aftertouch: Vec::new(),
            bend_range: default_bend_range(),
        }
    }
}

/// One macro a controller pushes, and how far (−1…1; clamped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControllerRoute {
    #[serde(rename = "macro")]
    pub target: MacroName,
    #[schemars(range(min = -1.0, max = 1.0))]
    pub depth: f64,
}

/// A macro, by its key. It mirrors [`Macro`] because the graph's JSON schema is derived from
/// these types and `mephisto-dsp` (where `Macro` lives, read by the audio thread) carries no
/// schema dependency; [`MacroName::to_macro`] is the one way across.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MacroName {
    Warm,
    Bright,
    Grit,
    Space,
    Motion,
    Punch,
}

impl MacroName {
    pub fn to_macro(self) -> Macro {
        match self {
            MacroName::Warm => Macro::Warm,
            MacroName::Bright => Macro::Bright,
            MacroName::Grit => Macro::Grit,
            MacroName::Space => Macro::Space,
            MacroName::Motion => Macro::Motion,
            MacroName::Punch => Macro::Punch,
        }
    }
}

impl Controllers {
    /// Whether the graph leaves every controller as on any patch.
    pub fn is_default(&self) -> bool {
        *self == Controllers::default()
    }

    /// The PatchSpec's controller map: depths and the bend range clamped into their ranges.
    pub fn to_map(&self) -> ControllerMap {
        let routes = |list: &[ControllerRoute]| -> Vec<Route> {
            list.iter()
                .map(|r| Route {
                    target: Target::Macro(r.target.to_macro()),
                    depth: ranges::DEPTH.clamp(r.depth) as f32,
                })
                .collect()
        };
        let bend = self.bend_range.clamp(0.0, MAX_BEND_RANGE as f64) as f32;
        ControllerMap {
            mod_wheel: (!self.mod_wheel.is_empty()).then(|| routes(&self.mod_wheel)),
            velocity: routes(&self.velocity),
            aftertouch: routes(&self.aftertouch),
            bend_range: (bend != DEFAULT_BEND_RANGE).then_some(bend),
        }
    }
}

/// One audio node. `frequency` and `amount` mean different things for different types
/// (docs/PATCHSPEC.md has the table); numbers outside their range are clamped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    #[serde(rename = "type")]
    pub kind: NodeKind,
    /// The position (0 = first) of the earlier node this one processes; filters, shapers
    /// and FM use it, the other sources ignore it.
    #[schemars(schema_with = "position_schema")]
    #[serde(serialize_with = "whole_number")]
    pub input: f64,
    /// Oscillators: a multiple of the note's frequency (1 = the note, 0.5 = an octave
    /// below). Filters: the cutoff in Hz (at middle C; it follows the note half-way).
    #[schemars(range(min = 0.25, max = 16000.0))]
    pub frequency: f64,
    /// Sources: the level, 0–1. Filters: the resonance, 0–1. Shapers: how hard, 0–1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub amount: f64,
}

/// The kinds of audio node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Sine,
    Triangle,
    Saw,
    Square,
    /// A narrow (25 %) pulse.
    Pulse,
    /// Four saws spread over ±15 cents.
    Supersaw,
    /// White noise.
    Noise,
    /// A sine whose phase its input modulates (bells, metallic tones).
    Fm,
    Lowpass,
    Highpass,
    Bandpass,
    /// Saturation.
    Drive,
    /// A sine wavefolder.
    Fold,
}

/// The amplitude envelope, in seconds (sustain is a level, 0–1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[schemars(range(min = 0.001, max = 8.0))]
    pub attack: f64,
    #[schemars(range(min = 0.01, max = 10.0))]
    pub decay: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sustain: f64,
    #[schemars(range(min = 0.01, max = 10.0))]
    pub release: f64,
}

impl Default for Envelope {
    fn default() -> Self {
        Envelope {
            attack: 0.01,
            decay: 0.3,
            sustain: 0.8,
            release: 0.4,
        }
    }
}

/// A modulator and the node it moves: an oscillator's pitch (±1 octave at depth 1), a
/// filter's cutoff (±3 octaves), noise's level, a shaper's amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Modulator {
    #[serde(rename = "type")]
    pub kind: ModulatorKind,
    /// The position of the node it moves.
    #[schemars(schema_with = "position_schema")]
    #[serde(serialize_with = "whole_number")]
    pub target: f64,
    /// LFO and drift: cycles per second. Envelope: seconds to fall after each note starts.
    #[schemars(range(min = 0.005, max = 20.0))]
    pub rate: f64,
    /// How far, and which way.
    #[schemars(range(min = -1.0, max = 1.0))]
    pub depth: f64,
}

/// The kinds of modulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModulatorKind {
    /// A sine LFO.
    Lfo,
    /// Jumps to 1 at each note and falls to 0 (a pluck's filter, a kick's pitch).
    Envelope,
    /// Slow smooth random wander.
    Drift,
}

/// A stereo effect after the voices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    #[serde(rename = "type")]
    pub kind: EffectKind,
    /// The wet level, 0–1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub mix: f64,
    /// Chorus: depth; delay: time (0.05–0.8 s); reverb: length (0.5–8 s); all 0–1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub size: f64,
}

/// The kinds of effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    Chorus,
    Delay,
    Reverb,
}

/// Which control each macro moves. Every one of them exists in every generated program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroChoices {
    pub warm: MacroControl,
    pub bright: MacroControl,
    pub grit: MacroControl,
    pub space: MacroControl,
    pub motion: MacroControl,
    pub punch: MacroControl,
}

impl Default for MacroChoices {
    fn default() -> Self {
        MacroChoices {
            warm: MacroControl::Body,
            bright: MacroControl::Tone,
            grit: MacroControl::Drive,
            space: MacroControl::Reverb,
            motion: MacroControl::Vibrato,
            punch: MacroControl::Attack,
        }
    }
}

impl MacroChoices {
    /// The control macro `m` moves.
    pub fn of(&self, m: Macro) -> MacroControl {
        match m {
            Macro::Warm => self.warm,
            Macro::Bright => self.bright,
            Macro::Grit => self.grit,
            Macro::Space => self.space,
            Macro::Motion => self.motion,
            Macro::Punch => self.punch,
        }
    }
}

/// The controls a macro can move: the voice-wide controls every generated program has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MacroControl {
    /// Every filter's cutoff together, and a high shelf (octaves).
    Tone,
    /// A low-mid bell at 250 Hz (dB).
    Body,
    /// Saturation after the nodes.
    Drive,
    /// The envelope's attack.
    Attack,
    /// The envelope's release.
    Release,
    /// A hall reverb after the effects.
    Reverb,
    /// Pitch vibrato on every oscillator.
    Vibrato,
    /// How far every modulator moves its node.
    Modulation,
}

impl MacroControl {
    /// The control's label in the generated program.
    pub fn label(self) -> &'static str {
        match self {
            MacroControl::Tone => "tone",
            MacroControl::Body => "body",
            MacroControl::Drive => "drive",
            MacroControl::Attack => "attack",
            MacroControl::Release => "release",
            MacroControl::Reverb => "reverb",
            MacroControl::Vibrato => "vibrato",
            MacroControl::Modulation => "modulation",
        }
    }

    /// How far macro `m` moves this control, signed the way that does what the macro says
    /// (a shorter attack is more Punch, a darker tone is Warmer); calibration repairs the
    /// rest on each patch.
    pub fn depth_for(self, m: Macro) -> f32 {
        let depth = match self {
            MacroControl::Tone => 0.35,
            MacroControl::Body => 0.5,
            MacroControl::Drive => 0.8,
            MacroControl::Attack => 0.5,
            MacroControl::Release => 0.4,
            MacroControl::Reverb => 0.7,
            MacroControl::Vibrato => 0.6,
            MacroControl::Modulation => 0.5,
        };
        let inverted = matches!(
            (m, self),
            (Macro::Punch, MacroControl::Attack | MacroControl::Release)
                | (Macro::Warm, MacroControl::Tone)
        );
        if inverted {
            -depth
        } else {
            depth
        }
    }
}

/// What the key velocity moves besides nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Velocity {
    /// The level.
    #[default]
    Level,
    /// The level, and harder notes open the filters (up to an octave).
    LevelAndTone,
}

/// A position as written by a model (any number), written back as an integer when it is
/// one.
fn whole_number<S: serde::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

fn archetype_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ARCHETYPES })
}

fn position_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "minimum": 0, "maximum": MAX_NODES - 1 })
}

impl NodeKind {
    /// Whether the node makes sound of its own (it has a level).
    pub fn is_source(self) -> bool {
        !self.is_processor()
    }

    /// Whether the node processes its input (filters and shapers).
    pub fn is_processor(self) -> bool {
        matches!(
            self,
            NodeKind::Lowpass
                | NodeKind::Highpass
                | NodeKind::Bandpass
                | NodeKind::Drive
                | NodeKind::Fold
        )
    }

    /// Whether the node is an oscillator with a pitch.
    pub fn is_oscillator(self) -> bool {
        !self.is_processor() && self != NodeKind::Noise
    }

    /// Whether the node reads its `input` (processors, and FM as its modulator).
    pub fn takes_input(self) -> bool {
        self.is_processor() || self == NodeKind::Fm
    }

    /// Whether the node is a filter (its `frequency` is a cutoff).
    pub fn is_filter(self) -> bool {
        matches!(
            self,
            NodeKind::Lowpass | NodeKind::Highpass | NodeKind::Bandpass
        )
    }

    /// The type's name in a graph.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Sine => "sine",
            NodeKind::Triangle => "triangle",
            NodeKind::Saw => "saw",
            NodeKind::Square => "square",
            NodeKind::Pulse => "pulse",
            NodeKind::Supersaw => "supersaw",
            NodeKind::Noise => "noise",
            NodeKind::Fm => "fm",
            NodeKind::Lowpass => "lowpass",
            NodeKind::Highpass => "highpass",
            NodeKind::Bandpass => "bandpass",
            NodeKind::Drive => "drive",
            NodeKind::Fold => "fold",
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A number's range, and how a slider shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub min: f64,
    pub max: f64,
    /// A frequency or a time: the slider is logarithmic.
    pub log: bool,
    pub unit: &'static str,
}

impl Range {
    const fn new(min: f64, max: f64, log: bool, unit: &'static str) -> Range {
        Range {
            min,
            max,
            log,
            unit,
        }
    }

    /// `value` clamped into the range.
    pub fn clamp(self, value: f64) -> f64 {
        value.clamp(self.min, self.max)
    }
}

/// The ranges numbers are clamped into when a graph is converted.
pub(crate) mod ranges {
    use super::Range;

    pub const RATIO: Range = Range::new(0.25, 8.0, true, "");
    pub const LEVEL: Range = Range::new(0.02, 1.0, false, "");
    pub const CUTOFF: Range = Range::new(40.0, 16000.0, true, "Hz");
    pub const UNIT: Range = Range::new(0.0, 1.0, false, "");
    pub const ATTACK: Range = Range::new(0.001, 8.0, true, "s");
    pub const DECAY: Range = Range::new(0.01, 10.0, true, "s");
    pub const RELEASE: Range = Range::new(0.01, 10.0, true, "s");
    pub const LFO_RATE: Range = Range::new(0.05, 20.0, true, "Hz");
    pub const ENVELOPE_TIME: Range = Range::new(0.005, 8.0, true, "s");
    pub const DEPTH: Range = Range::new(-1.0, 1.0, false, "");
    pub const TONE: Range = Range::new(-3.0, 3.0, false, "oct");
    pub const BODY: Range = Range::new(-12.0, 12.0, false, "dB");
    pub const VIBRATO: Range = Range::new(0.0, 50.0, false, "cent");
    pub const MODULATION: Range = Range::new(0.0, 2.0, false, "");
    pub const LEVEL_DB: Range = Range::new(-48.0, 40.0, false, "dB");
}

/// A node's input as a position it may use: an earlier node, or `None` for the first node
/// (which then processes a saw at the note's pitch).
pub(crate) fn resolve_input(position: usize, input: f64) -> Option<usize> {
    (position > 0).then(|| clamp_position(input, position - 1))
}

/// A position in a list of `last + 1` items: rounded and clamped.
pub(crate) fn clamp_position(value: f64, last: usize) -> usize {
    if value.is_nan() || value <= 0.0 {
        0
    } else {
        (value.round() as usize).min(last)
    }
}

impl SynthGraph {
    /// Parses a graph, naming the field of every problem. Numbers out of range are not
    /// problems: they are clamped when the graph is converted.
    pub fn from_json(text: &str) -> Result<SynthGraph, SpecError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let graph: SynthGraph =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let field = e.path().to_string();
                let field = (field != ".").then_some(field);
                let inner = e.inner();
                let (line, column) = (inner.line(), inner.column());
                let text = inner.to_string();
                let suffix = format!(" at line {line} column {column}");
                SpecError::Syntax {
                    field,
                    line,
                    column,
                    message: text.strip_suffix(&suffix).unwrap_or(&text).to_string(),
                }
            })?;
        graph.validate()?;
        Ok(graph)
    }

    /// Checks what the types cannot: the archetype and the item counts.
    pub fn validate(&self) -> Result<(), SpecError> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(Problem {
                field: field.to_string(),
                message,
            })
        };
        if !ARCHETYPES.contains(&self.archetype.as_str()) {
            problem(
                "archetype",
                format!(
                    "`{}` is not an archetype ({})",
                    self.archetype,
                    ARCHETYPES.join(", ")
                ),
            );
        }
        for (field, len, min, max) in [
            ("nodes", self.nodes.len(), 1, MAX_NODES),
            ("modulators", self.modulators.len(), 0, MAX_MODULATORS),
            ("effects", self.effects.len(), 0, MAX_EFFECTS),
            (
                "controllers.mod_wheel",
                self.controllers.mod_wheel.len(),
                0,
                MAX_ROUTES,
            ),
            (
                "controllers.velocity",
                self.controllers.velocity.len(),
                0,
                MAX_ROUTES,
            ),
            (
                "controllers.aftertouch",
                self.controllers.aftertouch.len(),
                0,
                MAX_ROUTES,
            ),
        ] {
            if !(min..=max).contains(&len) {
                problem(
                    field,
                    format!("{len} items; a graph has {min} to {max} {field}"),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Invalid(problems))
        }
    }

    /// The JSON Schema of a graph, generated from these types.
    pub fn json_schema() -> Schema {
        schemars::schema_for!(SynthGraph)
    }

    /// The schema as a model is given it: one self-contained object (no `$ref`), with the
    /// keys of every object in the order the types declare them, so a grammar built from
    /// it makes a model write `type` before the numbers it qualifies.
    pub fn model_schema() -> Value {
        every_key_required(inline_refs(SynthGraph::json_schema().to_value()))
    }

    /// The patch's name: lower-case letters, digits and underscores, at most
    /// [`MAX_NAME_CHARS`]; the archetype's when nothing is left.
    pub fn patch_name(&self) -> String {
        let mut name = String::new();
        for c in self.name.trim().chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() {
                name.push(c);
            } else if !name.is_empty() && !name.ends_with('_') {
                name.push('_');
            }
            if name.len() >= MAX_NAME_CHARS {
                break;
            }
        }
        let name = name.trim_end_matches('_');
        if name.is_empty() {
            format!("{}_graph", self.archetype)
        } else {
            name.to_string()
        }
    }

    /// The PatchSpec of this graph: the generated program, every control's designed
    /// value, the macro map, and notes saying how the voice is built. Its output level is
    /// not yet matched ([`normalize_level`] does that once the program is compiled).
    pub fn to_spec(&self, prompt: &str) -> PatchSpec {
        let program = faust::generate(self);
        let mut macros = MacroMap::new();
        for m in Macro::ALL {
            let control = self.macros.of(m);
            macros.push(m, control.label(), control.depth_for(m));
        }
        let controllers = self.controllers.to_map();
        let mut notes = format!("A synth graph: {}.", self.describe());
        if !controllers.is_default() {
            notes.push_str(&format!(" Controllers: {}.", controllers.describe()));
        }
        PatchSpec {
            version: SPEC_VERSION,
            name: self.patch_name(),
            prompt: prompt.trim().to_string(),
            archetype: self.archetype.clone(),
            faust: program.source,
            params: program.params,
            macros,
            voices: DEFAULT_VOICES,
            notes,
            neural: None,
            controllers,
            // Levelled when it is built (`Levelling::Design`).
            trim_db: None,
        }
    }

    /// The graph a generated program carries, if it is one.
    pub fn from_program(faust: &str) -> Option<SynthGraph> {
        let line = faust.lines().find_map(|l| l.strip_prefix(GRAPH_LINE))?;
        SynthGraph::from_json(line).ok()
    }

    /// The graph of a spec whose program is this graph's, unedited: what a refinement can
    /// send a model instead of the program.
    pub fn of_spec(spec: &PatchSpec) -> Option<SynthGraph> {
        let graph = SynthGraph::from_program(&spec.faust)?;
        (faust::generate(&graph).source == spec.faust).then_some(graph)
    }

    /// The graph as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a graph is always JSON")
    }

    /// A short description: the nodes and where they go, the modulators, the effects.
    pub fn describe(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let from = match resolve_input(i, node.input) {
                    Some(input) if node.kind.takes_input() => format!(" ← {input}"),
                    None if node.kind.is_processor() => " ← saw".to_string(),
                    _ => String::new(),
                };
                format!("{i}: {}{from}", node.kind)
            })
            .collect();
        let mut parts = vec![nodes.join(", ")];
        if !self.modulators.is_empty() {
            let last = self.nodes.len().saturating_sub(1);
            let mods: Vec<String> = self
                .modulators
                .iter()
                .map(|m| {
                    format!(
                        "{} → {}",
                        serde_json::to_value(m.kind).expect("an enum is JSON"),
                        clamp_position(m.target, last)
                    )
                    .replace('"', "")
                })
                .collect();
            parts.push(mods.join(", "));
        }
        if !self.effects.is_empty() {
            let effects: Vec<String> = self
                .effects
                .iter()
                .map(|e| {
                    serde_json::to_value(e.kind)
                        .expect("an enum is JSON")
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            parts.push(effects.join(" → "));
        }
        parts.join("; ")
    }
}

/// `schema` with every local `$ref` replaced by its definition, and `$defs`, `$schema`,
/// `format` (number formats a grammar converter may not know) and `default` (strict
/// structured-output modes refuse it) dropped.
fn inline_refs(schema: Value) -> Value {
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    fn walk(value: Value, defs: &serde_json::Map<String, Value>, depth: usize) -> Value {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    let name = reference.trim_start_matches("#/$defs/");
                    if let Some(def) = defs.get(name).filter(|_| depth < 16) {
                        return walk(def.clone(), defs, depth + 1);
                    }
                }
                let kept: BTreeMap<String, Value> = map
                    .into_iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "$defs" | "$schema" | "format" | "default")
                    })
                    .map(|(k, v)| (k, walk(v, defs, depth)))
                    .collect();
                Value::Object(kept.into_iter().collect())
            }
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| walk(v, defs, depth)).collect())
            }
            other => other,
        }
    }
    walk(schema, &defs, 0)
}

/// The order a model writes keys in: what a value is before the numbers that qualify it.
const KEY_ORDER: [&str; 31] = [
    "name",
    "archetype",
    "nodes",
    "envelope",
    "modulators",
    "effects",
    "macros",
    "mod_wheel",
    "velocity",
    "controllers",
    "aftertouch",
    "bend_range",
    "type",
    "macro",
    "input",
    "target",
    "frequency",
    "rate",
    "depth",
    "amount",
    "mix",
    "size",
    "attack",
    "decay",
    "sustain",
    "release",
    "warm",
    "bright",
    "grit",
    "space",
    "motion",
];

/// `schema` with every object's properties all required, listed in [`KEY_ORDER`] (`punch`
/// and any key not listed last): a model must write every field, in that order.
fn every_key_required(schema: Value) -> Value {
    match schema {
        Value::Object(mut map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                let mut keys: Vec<String> = properties.keys().cloned().collect();
                keys.sort_by_key(|k| KEY_ORDER.iter().position(|o| o == k).unwrap_or(usize::MAX));
                map.insert("required".into(), keys.into());
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, every_key_required(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(every_key_required).collect()),
        other => other,
    }
}

/// Writes a schema as JSON text with the properties of every object in the order its
/// `required` list gives (the order of the fields in the types), where serde_json's map
/// would sort them: a grammar made from the schema makes the model write the keys in that
/// order.
pub fn schema_text(schema: &Value) -> String {
    fn object(entries: Vec<(&String, String)>) -> String {
        let fields: Vec<String> = entries
            .into_iter()
            .map(|(key, value)| format!("{}:{value}", Value::String(key.clone())))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
    fn write(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let order: Vec<&str> = map
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let entries = map
                    .iter()
                    .map(|(key, value)| match value {
                        Value::Object(properties) if key == "properties" => {
                            let mut keys: Vec<&String> = properties.keys().collect();
                            keys.sort_by_key(|k| {
                                order.iter().position(|o| o == k).unwrap_or(usize::MAX)
                            });
                            let inner = keys
                                .into_iter()
                                .map(|k| (k, write(&properties[k.as_str()])))
                                .collect();
                            (key, object(inner))
                        }
                        _ => (key, write(value)),
                    })
                    .collect();
                object(entries)
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(write).collect();
                format!("[{}]", items.join(","))
            }
            other => other.to_string(),
        }
    }
    write(schema)
}

#[cfg(test)]
mod tests;
