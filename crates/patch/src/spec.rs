//! PatchSpec v1 as data: the JSON document that carries one patch between the designers,
//! the command line, the DAW project and the engine. It holds the whole Faust program, the
//! designed parameter values and the macro map; it is validated on the way in with messages
//! that name the field to fix, and its JSON Schema (`docs/patchspec.schema.json`) is
//! generated from the types below so the two cannot disagree. API keys never go into it.
//! Turning a spec into something that plays is [`crate::build`]'s job.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use mephisto_compiler::limits::cut;
use mephisto_compiler::MAX_SOURCE_BYTES;
use mephisto_dsp::builtin_patches;
use mephisto_dsp::controllers::{ControllerMap, Source, Target, MAX_BEND_RANGE};
use mephisto_dsp::macros::{Macro, MacroMap};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format version this Mephisto reads and writes.
pub const SPEC_VERSION: u32 = 1;

/// Voices a spec gets when it names none (the engine's default).
pub const DEFAULT_VOICES: u32 = mephisto_rt::engine::DEFAULT_VOICES as u32;

/// The longest `name` (characters): it names the patch in the window and in file names.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest `prompt` and `notes` (bytes).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The most `params` a spec may set: more than any program has controls.
pub const MAX_PARAMS: usize = 512;

/// The most voices a spec may ask for: each is a whole DSP, built off the audio thread.
pub const MAX_VOICES: u32 = 64;

/// The kinds of instrument a patch can be; designers pick templates and lexicons by them.
pub const ARCHETYPES: [&str; 16] = [
    "pad",
    "bass",
    "lead",
    "pluck",
    "keys",
    "bell",
    "organ",
    "strings",
    "brass",
    "woodwind",
    "vocal",
    "mallet",
    "drone",
    "metallic",
    "percussion",
    "fx",
];

/// Voice controls the engine sets from the notes played; a spec cannot set or map them.
const ENGINE_DRIVEN: [&str; 3] = ["freq", "gain", "gate"];

/// The top-level fields, in document order (a unit test keeps this equal to the schema's).
const FIELDS: [&str; 12] = [
    "version",
    "name",
    "prompt",
    "archetype",
    "faust",
    "params",
    "macros",
    "controllers",
    "voices",
    "trim_db",
    "notes",
    "neural",
];

/// The range of an output trim, in dB.
pub const TRIM_RANGE_DB: (f32, f32) = (-60.0, 24.0);

/// Fields without a default, with what belongs there.
const REQUIRED: [(&str, &str); 4] = [
    ("version", "the format version, 1"),
    ("name", "the patch's name"),
    ("archetype", "the kind of instrument"),
    ("faust", "the whole Faust program"),
];

/// The fields of one macro target.
const TARGET_FIELDS: [&str; 3] = ["param", "depth", "curve"];

/// The fields of `neural`.
const NEURAL_FIELDS: [&str; 1] = ["model"];

/// The fields of `controllers`.
const CONTROLLER_FIELDS: [&str; 4] = ["mod_wheel", "velocity", "aftertouch", "bend_range"];

/// The fields of one controller route.
const ROUTE_FIELDS: [&str; 3] = ["macro", "param", "depth"];

/// One patch: its Faust program, designed values and macro map, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Mephisto PatchSpec")]
pub struct PatchSpec {
    /// The format version. This Mephisto reads version 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// The patch's name as shown in the plugin, e.g. `warm_pad`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// What the producer asked for, in their own words; empty for hand-written patches.
    #[serde(default)]
    pub prompt: String,
    /// The kind of instrument: pad, bass, lead, pluck, keys, bell, organ, strings, brass,
    /// woodwind, vocal, mallet, drone, metallic, percussion or fx.
    #[schemars(schema_with = "archetype_schema")]
    pub archetype: String,
    /// The whole Faust program. `process` is one voice (no inputs, 1 or 2 outputs) driven by
    /// the `freq`, `gain` and `gate` controls; an optional `effect` (2 in, 2 out) runs once
    /// after the voices are summed. It may `import("stdfaust.lib")` and
    /// `library("mephisto.lib")`. In a `neural` patch the model plays the voices and only
    /// the program's `effect` is used; there it may be empty (no effect).
    pub faust: String,
    /// Designed values by control label (what each control has with every macro at 0.5).
    /// Controls not listed keep the value the program declares; values outside a control's
    /// range are clamped to it.
    #[serde(default)]
    pub params: BTreeMap<String, f32>,
    /// Macro key → the controls it moves. When present, this is the whole macro map and
    /// replaces the one in the program's widget metadata; when empty or absent, the
    /// program's metadata map is used.
    #[serde(default)]
    #[schemars(schema_with = "macros_schema")]
    pub macros: MacroMap,
    /// What the player's controllers do: the mod wheel, velocity and aftertouch each push
    /// macros or parameters by a depth, and the pitch wheel bends by a range. Absent, the
    /// mod wheel drives Motion and the pitch wheel bends ±2 semitones.
    #[serde(default, skip_serializing_if = "ControllerMap::is_default")]
    #[schemars(schema_with = "controllers_schema")]
    pub controllers: ControllerMap,
    /// How many notes can sound at once.
    #[serde(default = "default_voices")]
    #[schemars(range(min = 1, max = 64))]
    pub voices: u32,
    /// Output trim in dB, a gain after the effect that levels the patch (docs/LEVEL.md).
    /// Designers set it so every designed patch meets one loudness target; absent, a
    /// designed patch is levelled when it is built, and a played one keeps 0 dB unless it
    /// is too hot for the sanity gate, when it is levelled instead of refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -60.0, max = 24.0))]
    pub trim_db: Option<f32>,
    /// Free-form notes: what the patch is, how it was made, what its controls do.
    #[serde(default)]
    pub notes: String,
    /// A neural model that plays the voices instead of the Faust program's `process`
    /// (docs/NEURAL.md). Its voice controls are the synthesis controls `tilt`, `body`,
    /// `noise_gain`, `vibrato`, `attack` and `transient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neural: Option<NeuralSpec>,
}

/// The neural model of a patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NeuralSpec {
    /// A shipped model's name (`tine_keys`, looked up in `$MEPHISTO_MODELS`, `models/`
    /// beside the executable, then the repository's `onnx/models`) or the path of a
    /// `MODEL.onnx` file with its `MODEL.json` sidecar beside it.
    #[schemars(length(min = 1))]
    pub model: String,
}

// The JSON form of one link of a `MacroMap`, for the schema only: the map reads and writes
// itself (macro key → these).
/// One control moved by a macro.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MacroTarget")]
#[allow(dead_code)]
struct MacroLinkSchema {
    /// The control's label, as in the Faust program (`cutoff`, `release`, …).
    #[schemars(length(min = 1))]
    param: String,
    /// Signed share of the control's normalised range (log-normalised for `[scale:log]`)
    /// that it moves as the macro goes from 0.5 to 1; the opposite way from 0.5 to 0.
    #[schemars(range(min = -1.0, max = 1.0))]
    depth: f32,
    /// How the macro position maps onto the control.
    #[serde(default)]
    curve: CurveSchema,
}

/// The shape of a macro's effect on a control.
#[derive(Default, Serialize, JsonSchema)]
#[schemars(rename = "Curve")]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum CurveSchema {
    /// The normalised position moves in proportion to the macro (the only curve in v1).
    #[default]
    Linear,
}

// The JSON form of a controller map, for the schema only: the map reads and writes itself.
/// What the player's controllers do.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Controllers")]
#[allow(dead_code)]
struct ControllersSchema {
    /// What pushing the mod wheel does. Absent: it drives Motion at depth 1; `[]`: nothing.
    #[serde(default)]
    mod_wheel: Option<Vec<RouteSchema>>,
    /// What playing harder does, per note (the controller's value is the note's velocity).
    #[serde(default)]
    velocity: Vec<RouteSchema>,
    /// What pressing into the keys (channel pressure) does.
    #[serde(default)]
    aftertouch: Vec<RouteSchema>,
    /// The pitch wheel's range, semitones each way (default 2).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 48.0))]
    bend_range: Option<f32>,
}

/// One controller route: a macro or a parameter, and a depth. With the controller at `c`
/// (0..1), a macro's value `m` moves towards 1 by `depth·c·(1 − m)` (towards 0 for a
/// negative depth); a parameter's normalised position moves by `depth·c`.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ControllerRoute")]
#[allow(dead_code)]
struct RouteSchema {
    /// A macro key: warm, bright, grit, space, motion or punch (or give `param`).
    #[serde(rename = "macro", default)]
    #[schemars(schema_with = "macro_key_schema")]
    macro_key: Option<String>,
    /// A control's label, as in the Faust program (or give `macro`).
    #[serde(default)]
    param: Option<String>,
    #[schemars(range(min = -1.0, max = 1.0))]
    depth: f32,
}

fn macro_key_schema(_: &mut SchemaGenerator) -> Schema {
    let keys: Vec<&str> = Macro::ALL.iter().map(|m| m.key()).collect();
    json_schema!({ "type": "string", "enum": keys })
}

fn controllers_schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<ControllersSchema>()
}

fn default_voices() -> u32 {
    DEFAULT_VOICES
}

fn archetype_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ARCHETYPES })
}

fn macros_schema(generator: &mut SchemaGenerator) -> Schema {
    let targets = generator.subschema_for::<Vec<MacroLinkSchema>>();
    let properties: serde_json::Map<String, Value> = Macro::ALL
        .iter()
        .map(|m| (m.key().to_string(), targets.clone().to_value()))
        .collect();
    json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false
    })
}

/// One thing wrong with a spec, and the field it is in (`macros.bright[0].depth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The path to the field, `params.cutoff`, `macros.warm[1].param`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

/// Why a document is not a usable PatchSpec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    /// Not JSON, or a value of the wrong type: where, and in which field when known.
    Syntax {
        field: Option<String>,
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-formed, but breaks the rules: every problem found, each naming its field.
    Invalid(Vec<Problem>),
}

impl SpecError {
    /// The fields the error names, for callers (and tests) that act on them.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            SpecError::Syntax { field, .. } => field.as_deref().into_iter().collect(),
            SpecError::Invalid(problems) => problems.iter().map(|p| p.field.as_str()).collect(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::Syntax {
                field: Some(field),
                line,
                column,
                message,
            } => write!(f, "`{field}`: {message} (line {line}, column {column})"),
            SpecError::Syntax {
                field: None,
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: {message}"),
            SpecError::Invalid(problems) => {
                let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
                write!(f, "{}", lines.join("\n"))
            }
        }
    }
}

impl std::error::Error for SpecError {}

impl PatchSpec {
    /// Parses and validates a spec. Refuses unknown fields and anything named like an API
    /// key; every message names the field to fix.
    pub fn from_json(text: &str) -> Result<PatchSpec, SpecError> {
        if text.len() as u64 > crate::files::MAX_SPEC_BYTES {
            return Err(SpecError::Invalid(vec![Problem {
                field: "(document)".into(),
                message: format!(
                    "{} bytes, more than the {} a PatchSpec may have",
                    text.len(),
                    mephisto_compiler::limits::bytes(crate::files::MAX_SPEC_BYTES)
                ),
            }]));
        }
        let document: Value = serde_json::from_str(text)
            .map_err(|e| syntax_error(crate::json_path::path_at(text, e.line(), e.column()), &e))?;
        let problems = shape_problems(&document);
        if !problems.is_empty() {
            return Err(SpecError::Invalid(problems));
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let spec: PatchSpec = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let field = e.path().to_string();
            let field = (field != ".").then_some(field);
            syntax_error(field, e.inner())
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads and validates a spec file; the message starts with the file's path.
    pub fn from_file(path: &Path) -> Result<PatchSpec, String> {
        let text = crate::files::read_text(path, crate::files::MAX_SPEC_BYTES, "the PatchSpec")?;
        PatchSpec::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The spec as indented JSON, ending with a newline.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a PatchSpec is always JSON");
        text.push('\n');
        text
    }

    /// Checks the rules a well-typed spec must also follow, reporting every broken one.
    pub fn validate(&self) -> Result<(), SpecError> {
        let mut problems = Vec::new();
        let mut problem = |field: String, message: String| {
            problems.push(Problem { field, message });
        };
        if self.version != SPEC_VERSION {
            problem(
                "version".into(),
                format!(
                    "{} is not supported (this Mephisto reads version {SPEC_VERSION})",
                    self.version
                ),
            );
        }
        if self.name.trim().is_empty() {
            problem("name".into(), "empty".into());
        } else if self.name.chars().count() > MAX_NAME_CHARS {
            problem(
                "name".into(),
                format!(
                    "{} characters (`{}`), more than {MAX_NAME_CHARS}",
                    self.name.chars().count(),
                    cut(&self.name, 40)
                ),
            );
        }
        for (field, text) in [("prompt", &self.prompt), ("notes", &self.notes)] {
            if text.len() > MAX_TEXT_BYTES {
                problem(
                    field.into(),
                    format!("{} bytes, more than {MAX_TEXT_BYTES}", text.len()),
                );
            }
        }
        if self.params.len() > MAX_PARAMS {
            problem(
                "params".into(),
                format!("{} parameters, more than {MAX_PARAMS}", self.params.len()),
            );
        }
        if !ARCHETYPES.contains(&self.archetype.as_str()) {
            problem(
                "archetype".into(),
                format!(
                    "`{}` is not an archetype ({})",
                    cut(&self.archetype, 40),
                    ARCHETYPES.join(", ")
                ),
            );
        }
        if self.faust.trim().is_empty() && self.neural.is_none() {
            problem("faust".into(), "empty".into());
        } else if self.faust.len() > MAX_SOURCE_BYTES {
            problem(
                "faust".into(),
                format!(
                    "{} bytes, more than the {} KiB a program may have",
                    self.faust.len(),
                    MAX_SOURCE_BYTES / 1024
                ),
            );
        }
        if let Some(trim) = self.trim_db {
            let (low, high) = TRIM_RANGE_DB;
            if !(low..=high).contains(&trim) {
                problem(
                    "trim_db".into(),
                    format!("{trim} is outside {low}..{high} dB"),
                );
            }
        }
        if !(1..=MAX_VOICES).contains(&self.voices) {
            problem(
                "voices".into(),
                format!("{} is outside 1..={MAX_VOICES}", self.voices),
            );
        }
        for (label, value) in self.params.iter().take(MAX_PARAMS) {
            let field = format!("params.{}", cut(label, 60));
            if let Some(message) = label_problem(label) {
                problem(field, message);
            } else if !value.is_finite() {
                problem(field, format!("{value} is not a finite number"));
            }
        }
        for m in Macro::ALL {
            let key = m.key();
            let targets: Vec<_> = self.macros.of(m).collect();
            for (i, target) in targets.iter().enumerate() {
                let field = format!("macros.{key}[{i}]");
                if let Some(message) = label_problem(&target.param) {
                    problem(format!("{field}.param"), message);
                } else if targets[..i].iter().any(|t| t.param == target.param) {
                    problem(
                        format!("{field}.param"),
                        format!("`{}` is already listed for {key}", cut(&target.param, 60)),
                    );
                }
                if !(-1.0..=1.0).contains(&target.depth) {
                    problem(
                        format!("{field}.depth"),
                        format!("{} is outside -1..1", target.depth),
                    );
                }
            }
        }
        for source in Source::ALL {
            let routes = match source {
                Source::ModWheel => self.controllers.mod_wheel.as_deref().unwrap_or(&[]),
                _ => self.controllers.routes(source),
            };
            for (i, route) in routes.iter().enumerate() {
                let field = format!("controllers.{}[{i}]", source.key());
                if let Target::Param(label) = &route.target {
                    if let Some(message) = label_problem(label) {
                        problem(format!("{field}.param"), message);
                    }
                }
                if !(-1.0..=1.0).contains(&route.depth) {
                    problem(
                        format!("{field}.depth"),
                        format!("{} is outside -1..1", route.depth),
                    );
                }
            }
        }
        if let Some(range) = self.controllers.bend_range {
            if !(0.0..=MAX_BEND_RANGE).contains(&range) {
                problem(
                    "controllers.bend_range".into(),
                    format!("{range} is outside 0..{MAX_BEND_RANGE} semitones"),
                );
            }
        }
        if let Some(neural) = &self.neural {
            if neural.model.trim().is_empty() {
                problem("neural.model".into(), "empty".into());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Invalid(problems))
        }
    }

    /// The index of the built-in patch whose program this spec carries unchanged, if any:
    /// such a spec can be played from the compiled-in DSP without the runtime compiler.
    /// `None` for a neural patch (its program only lends the effect).
    pub fn builtin_index(&self) -> Option<usize> {
        if self.neural.is_some() {
            return None;
        }
        builtin_patches()
            .iter()
            .position(|p| p.source == self.faust)
    }

    /// The JSON Schema of a PatchSpec, generated from these types.
    pub fn json_schema() -> Schema {
        schemars::schema_for!(PatchSpec)
    }

    /// The schema as written to `docs/patchspec.schema.json`: indented, ending with a newline.
    pub fn json_schema_text() -> String {
        let mut text =
            serde_json::to_string_pretty(&PatchSpec::json_schema()).expect("a schema is JSON");
        text.push('\n');
        text
    }
}

/// What is wrong with a control label used in `params` or a macro target, if anything.
fn label_problem(label: &str) -> Option<String> {
    if label.trim().is_empty() {
        Some("empty parameter name".into())
    } else if label.chars().count() > MAX_NAME_CHARS {
        Some(format!(
            "a parameter name of {} characters, more than {MAX_NAME_CHARS}",
            label.chars().count()
        ))
    } else if ENGINE_DRIVEN.contains(&label) {
        Some(format!(
            "`{label}` is set by the engine from the notes played ({}), not by a spec",
            ENGINE_DRIVEN.join(", ")
        ))
    } else {
        None
    }
}

/// A serde_json error as a [`SpecError::Syntax`], its message without serde's own
/// "at line … column …" (the error says where once).
fn syntax_error(field: Option<String>, error: &serde_json::Error) -> SpecError {
    let (line, column) = (error.line(), error.column());
    let text = error.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    // serde quotes the value it could not read; a credential's value is never repeated, and
    // a long one is cut.
    let secret = field
        .as_deref()
        .and_then(|f| f.rsplit(['.', '[']).next())
        .is_some_and(names_a_secret);
    let message = if secret {
        "the value is not shown: the field's name looks like a credential".to_string()
    } else {
        cut(message, 200)
    };
    SpecError::Syntax {
        field,
        line,
        column,
        message,
    }
}

/// Whether a field name looks like a credential (`api_key`, `apiKey`, `key`,
/// `Authorization`, `token`, …).
fn names_a_secret(name: &str) -> bool {
    let plain: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    plain == "key"
        || plain == "bearer"
        || ["apikey", "authorization", "secret", "token", "password"]
            .iter()
            .any(|word| plain.contains(word))
}

/// Problems with the document's fields themselves, found before the types are read so the
/// messages can be specific: credentials, unknown fields and missing required ones.
fn shape_problems(document: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Value::Object(fields) = document else {
        // The typed read reports the wrong type, with its position.
        return problems;
    };
    check_fields(fields, "", &FIELDS, "a PatchSpec", &mut problems);
    if let Some(Value::Object(neural)) = fields.get("neural") {
        check_fields(neural, "neural.", &NEURAL_FIELDS, "`neural`", &mut problems);
    }
    if let Some(Value::Object(controllers)) = fields.get("controllers") {
        check_fields(
            controllers,
            "controllers.",
            &CONTROLLER_FIELDS,
            "`controllers`",
            &mut problems,
        );
        for (key, routes) in controllers {
            let Value::Array(routes) = routes else {
                continue;
            };
            for (i, route) in routes.iter().enumerate() {
                if let Value::Object(route) = route {
                    let prefix = format!("controllers.{key}[{i}].");
                    check_fields(route, &prefix, &ROUTE_FIELDS, "a route", &mut problems);
                }
            }
        }
    }
    if let Some(Value::Object(params)) = fields.get("params") {
        for name in params.keys().filter(|name| names_a_secret(name)) {
            problems.push(Problem {
                field: format!("params.{}", cut(name, 60)),
                message: "refused: a parameter named like a credential; its value is not \
                          shown and never goes into a PatchSpec (remove it)"
                    .into(),
            });
        }
    }
    for (field, what) in REQUIRED {
        if !fields.contains_key(field) {
            problems.push(Problem {
                field: field.into(),
                message: format!("missing ({what})"),
            });
        }
    }
    if let Some(Value::Object(macros)) = fields.get("macros") {
        for (key, targets) in macros {
            if Macro::from_key(key).is_none_or(|m| m.key() != key) {
                let keys: Vec<&str> = Macro::ALL.iter().map(|m| m.key()).collect();
                problems.push(Problem {
                    field: format!("macros.{}", cut(key, 60)),
                    message: format!("not a macro ({})", keys.join(", ")),
                });
                continue;
            }
            let Value::Array(targets) = targets else {
                continue;
            };
            for (i, target) in targets.iter().enumerate() {
                if let Value::Object(target) = target {
                    let prefix = format!("macros.{key}[{i}].");
                    check_fields(
                        target,
                        &prefix,
                        &TARGET_FIELDS,
                        "a macro target",
                        &mut problems,
                    );
                }
            }
        }
    }
    problems
}

fn check_fields(
    fields: &serde_json::Map<String, Value>,
    prefix: &str,
    known: &[&str],
    what: &str,
    problems: &mut Vec<Problem>,
) {
    for name in fields.keys() {
        let message = if names_a_secret(name) {
            "refused: API keys and other credentials never go into a PatchSpec (the LLM \
             designer reads its key from an environment variable); remove this field"
                .to_string()
        } else if !known.contains(&name.as_str()) {
            format!("unknown field ({what} has: {})", known.join(", "))
        } else {
            continue;
        };
        problems.push(Problem {
            field: format!("{prefix}{}", cut(name, 60)),
            message,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_properties(schema: &Value) -> Vec<String> {
        schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn field_lists_match_the_schema() {
        let schema = PatchSpec::json_schema().to_value();
        let mut fields = schema_properties(&schema);
        fields.sort();
        let mut expected: Vec<String> = FIELDS.iter().map(|f| f.to_string()).collect();
        expected.sort();
        assert_eq!(fields, expected);

        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .expect("required fields")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort();
        let mut expected: Vec<&str> = REQUIRED.iter().map(|(f, _)| *f).collect();
        expected.sort();
        assert_eq!(required, expected);

        let target = &schema["$defs"]["MacroTarget"];
        let mut fields = schema_properties(target);
        fields.sort();
        let mut expected: Vec<String> = TARGET_FIELDS.iter().map(|f| f.to_string()).collect();
        expected.sort();
        assert_eq!(fields, expected);
    }

    #[test]
    fn credential_names_are_recognised() {
        for name in [
            "api_key",
            "apiKey",
            "API-KEY",
            "key",
            "Authorization",
            "openai_api_key",
            "token",
            "secret",
        ] {
            assert!(names_a_secret(name), "{name}");
        }
        for name in ["name", "keys", "notes", "voices", "param", "depth"] {
            assert!(!names_a_secret(name), "{name}");
        }
    }

    #[test]
    fn serde_location_is_said_once() {
        let e = serde_json::from_str::<Value>("{\n  \"a\": }").unwrap_err();
        let SpecError::Syntax { message, line, .. } = syntax_error(None, &e) else {
            unreachable!()
        };
        assert_eq!(line, 2);
        assert!(!message.contains("line"), "{message}");
    }
}
