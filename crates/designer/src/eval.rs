//! The prompt suite (`tests/data/prompts.json`): prompts, and relations their rendered
//! audio should show ("a dark pad has a lower centroid than a bright pad"). Each prompt is
//! designed, rendered with the default probe of `mephisto render` (C3 held 1 s, 3 s in
//! all; a prompt may hold the mod wheel, aftertouch or pitch bend, or play another
//! velocity) and measured; the score is the share of relations that hold, overall and per
//! category.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use mephisto_analysis::{Analyzer, Features, FEATURE_NAMES};
use mephisto_dsp::macros::NEUTRAL_MACROS;
use mephisto_patch::render::{default_seconds, render_played};
use mephisto_patch::score::default_score;
use mephisto_patch::{BuildError, OfflinePatch, PatchSpec};
use mephisto_rt::engine::EngineEvent;

/// The rate suite renders are made at.
pub const EVAL_RATE: u32 = 48_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSuite {
    pub prompts: Vec<SuitePrompt>,
    pub relations: Vec<Relation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuitePrompt {
    pub id: String,
    pub prompt: String,
    /// How the probe is played: controllers held from the start, the note's velocity.
    #[serde(default)]
    pub mod_wheel: f32,
    #[serde(default)]
    pub aftertouch: f32,
    #[serde(default)]
    pub bend: f32,
    #[serde(default)]
    pub velocity: Option<f32>,
}

impl SuitePrompt {
    /// How this prompt's probe is played.
    pub fn playing(&self) -> Playing {
        Playing {
            mod_wheel: self.mod_wheel,
            aftertouch: self.aftertouch,
            bend: self.bend,
            velocity: self.velocity,
        }
    }
}

/// How a prompt's probe note is played. The default is the plain probe: no controller
/// moved, velocity 0.8.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Playing {
    /// The mod wheel, 0..1, held from before the note.
    pub mod_wheel: f32,
    /// Channel pressure, 0..1, held from before the note.
    pub aftertouch: f32,
    /// The pitch wheel, −1..1 (1: bent up by the patch's whole bend range).
    pub bend: f32,
    /// The note's velocity, 0..1; the probe's when absent.
    pub velocity: Option<f32>,
}

impl Playing {
    /// The controller events that set this up before the note.
    fn events(&self) -> Vec<EngineEvent> {
        let mut events = Vec::new();
        if self.mod_wheel != 0.0 {
            events.push(EngineEvent::ModWheel(self.mod_wheel));
        }
        if self.aftertouch != 0.0 {
            events.push(EngineEvent::Aftertouch(self.aftertouch));
        }
        if self.bend != 0.0 {
            events.push(EngineEvent::PitchBend(self.bend));
        }
        events
    }
}

/// `lower`'s descriptor is expected below `higher`'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relation {
    pub lower: String,
    pub higher: String,
    pub descriptor: String,
    /// What the relation tests (`families`, `typos`, `controllers`, …); scores are also
    /// given per category.
    pub category: String,
    #[serde(default)]
    pub why: String,
}

/// One relation as measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub relation: Relation,
    pub lower_value: f32,
    pub higher_value: f32,
}

impl Outcome {
    pub fn holds(&self) -> bool {
        self.lower_value < self.higher_value
    }
}

/// Everything measured for a suite.
#[derive(Debug, Clone)]
pub struct EvalReport {
    /// Per prompt id: the designed patch's name and its features.
    pub measured: BTreeMap<String, (String, Features)>,
    pub outcomes: Vec<Outcome>,
    /// The ids of the prompts played as designed (the probe's velocity, no controller
    /// moved): the designs whose level is the designed level.
    pub played_as_designed: Vec<String>,
}

/// The designed levels across a suite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelSpread {
    /// The quietest and loudest design, LUFS (`level` descriptor).
    pub quietest: f32,
    pub loudest: f32,
    /// The highest peak of any design, dBFS.
    pub peak: f32,
}

impl EvalReport {
    pub fn held(&self) -> usize {
        self.outcomes.iter().filter(|o| o.holds()).count()
    }

    /// The share of relations that hold, 0..1.
    pub fn score(&self) -> f32 {
        share(self.held(), self.outcomes.len())
    }

    /// Per category, in alphabetical order: (relations that hold, relations).
    pub fn by_category(&self) -> BTreeMap<String, (usize, usize)> {
        let mut categories = BTreeMap::new();
        for o in &self.outcomes {
            let entry = categories
                .entry(o.relation.category.clone())
                .or_insert((0, 0));
            entry.0 += usize::from(o.holds());
            entry.1 += 1;
        }
        categories
    }

    /// The designed levels: over the prompts played as designed.
    pub fn level_spread(&self) -> LevelSpread {
        let levels = self
            .played_as_designed
            .iter()
            .map(|id| &self.measured[id].1);
        levels.fold(
            LevelSpread {
                quietest: f32::INFINITY,
                loudest: f32::NEG_INFINITY,
                peak: f32::NEG_INFINITY,
            },
            |s, f| LevelSpread {
                quietest: s.quietest.min(f.level_lufs),
                loudest: s.loudest.max(f.level_lufs),
                peak: s.peak.max(f.peak_db),
            },
        )
    }

    /// The lowest share of relations that hold in any category, 0..1.
    pub fn worst_category(&self) -> Option<(String, f32)> {
        self.by_category()
            .into_iter()
            .map(|(name, (held, all))| (name, share(held, all)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

fn share(part: usize, all: usize) -> f32 {
    if all == 0 {
        0.0
    } else {
        part as f32 / all as f32
    }
}

/// Renders the default probe of `mephisto render` (C3 held 1 s, 3 s in all) at
/// [`EVAL_RATE`] and measures it: what the suite's relations are checked on.
pub fn measure_default_probe(instance: OfflinePatch, analyzer: &mut Analyzer) -> Features {
    measure_played_probe(instance, &Playing::default(), analyzer)
}

/// The default probe played as `playing` says, measured.
pub fn measure_played_probe(
    instance: OfflinePatch,
    playing: &Playing,
    analyzer: &mut Analyzer,
) -> Features {
    let mut score = default_score();
    if let Some(velocity) = playing.velocity {
        score[0].velocity = velocity;
    }
    let note_off = score[0].start + score[0].duration;
    let mono = render_played(
        instance,
        &score,
        NEUTRAL_MACROS,
        &playing.events(),
        default_seconds(&score),
        EVAL_RATE,
    )
    .mono();
    analyzer.measure(&mono, EVAL_RATE as f32, Some(note_off))
}

impl PromptSuite {
    /// Reads a suite, checking that ids are unique and relations name known prompts and
    /// descriptors.
    pub fn from_file(path: &Path) -> Result<PromptSuite, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let suite: PromptSuite =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        suite
            .check()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(suite)
    }

    fn check(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        for p in &self.prompts {
            if !ids.insert(p.id.as_str()) {
                return Err(format!("prompt id `{}` is used twice", p.id));
            }
            let Playing {
                mod_wheel,
                aftertouch,
                bend,
                velocity,
            } = p.playing();
            let in_range = [mod_wheel, aftertouch, velocity.unwrap_or(0.5)]
                .iter()
                .all(|v| (0.0..=1.0).contains(v))
                && (-1.0..=1.0).contains(&bend);
            if !in_range {
                return Err(format!(
                    "prompt `{}`: mod_wheel, aftertouch and velocity are 0..1, bend −1..1",
                    p.id
                ));
            }
        }
        for (i, r) in self.relations.iter().enumerate() {
            for id in [&r.lower, &r.higher] {
                if !ids.contains(id.as_str()) {
                    return Err(format!("relations[{i}] names unknown prompt `{id}`"));
                }
            }
            if r.category.trim().is_empty() {
                return Err(format!("relations[{i}] has no category"));
            }
            if !FEATURE_NAMES.contains(&r.descriptor.as_str()) {
                return Err(format!(
                    "relations[{i}]: unknown descriptor `{}` (known: {})",
                    r.descriptor,
                    FEATURE_NAMES.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Designs every prompt with `design`, renders it through `instantiate` and checks
    /// the relations. A prompt that fails to design or build fails the whole evaluation:
    /// the designer must always yield a playable patch.
    pub fn evaluate(
        &self,
        design: &mut dyn FnMut(&str) -> Result<PatchSpec, String>,
        instantiate: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
    ) -> Result<EvalReport, String> {
        let mut analyzer = Analyzer::new();
        let mut measured = BTreeMap::new();
        // Prompts played several ways are designed once.
        let mut designed: BTreeMap<&str, PatchSpec> = BTreeMap::new();
        for p in &self.prompts {
            let fail = |e: String| format!("prompt `{}`: {e}", p.id);
            let spec = match designed.get(p.prompt.as_str()) {
                Some(spec) => spec.clone(),
                None => {
                    let spec = design(&p.prompt).map_err(fail)?;
                    designed.insert(&p.prompt, spec.clone());
                    spec
                }
            };
            let instance = instantiate(&spec).map_err(|e| fail(e.to_string()))?;
            let features = measure_played_probe(instance, &p.playing(), &mut analyzer);
            measured.insert(p.id.clone(), (spec.name, features));
        }
        let value = |id: &str, descriptor: &str| {
            measured[id]
                .1
                .get(descriptor)
                .expect("descriptors are checked when the suite is read")
        };
        let outcomes = self
            .relations
            .iter()
            .map(|r| Outcome {
                relation: r.clone(),
                lower_value: value(&r.lower, &r.descriptor),
                higher_value: value(&r.higher, &r.descriptor),
            })
            .collect();
        let played_as_designed = self
            .prompts
            .iter()
            .filter(|p| {
                p.velocity.is_none() && p.mod_wheel == 0.0 && p.aftertouch == 0.0 && p.bend == 0.0
            })
            .map(|p| p.id.clone())
            .collect();
        Ok(EvalReport {
            measured,
            outcomes,
            played_as_designed,
        })
    }
}
