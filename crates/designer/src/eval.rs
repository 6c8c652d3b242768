//! The prompt suite (`tests/data/prompts.json`): prompts, and relations their rendered
//! audio should show ("a dark pad has a lower centroid than a bright pad"). Each prompt is
//! designed, rendered with the default probe of `mephisto render` (C3 held 1 s, 3 s in
//! all) and measured; the score is the share of relations that hold.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use mephisto_analysis::{Analyzer, Features, FEATURE_NAMES};
use mephisto_patch::render::{default_seconds, render_default_probe};
use mephisto_patch::score::default_score;
use mephisto_patch::{BuildError, OfflinePatch, PatchSpec};

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
}

/// `lower`'s descriptor is expected below `higher`'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relation {
    pub lower: String,
    pub higher: String,
    pub descriptor: String,
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
}

impl EvalReport {
    pub fn held(&self) -> usize {
        self.outcomes.iter().filter(|o| o.holds()).count()
    }

    /// The share of relations that hold, 0..1.
    pub fn score(&self) -> f32 {
        if self.outcomes.is_empty() {
            0.0
        } else {
            self.held() as f32 / self.outcomes.len() as f32
        }
    }
}

/// Renders the default probe of `mephisto render` (C3 held 1 s, 3 s in all) at
/// [`EVAL_RATE`] and measures it: what the suite's relations are checked on.
pub fn measure_default_probe(instance: OfflinePatch, analyzer: &mut Analyzer) -> Features {
    let score = default_score();
    let note_off = score[0].start + score[0].duration;
    let mono = render_default_probe(instance, default_seconds(&score), EVAL_RATE);
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
        }
        for (i, r) in self.relations.iter().enumerate() {
            for id in [&r.lower, &r.higher] {
                if !ids.contains(id.as_str()) {
                    return Err(format!("relations[{i}] names unknown prompt `{id}`"));
                }
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
        for p in &self.prompts {
            let spec = design(&p.prompt).map_err(|e| format!("prompt `{}`: {e}", p.id))?;
            let instance = instantiate(&spec).map_err(|e| format!("prompt `{}`: {e}", p.id))?;
            let features = measure_default_probe(instance, &mut analyzer);
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
        Ok(EvalReport { measured, outcomes })
    }
}
