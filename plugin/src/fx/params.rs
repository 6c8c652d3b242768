//! Mephisto FX's host-visible parameters. Their string ids are stable: DAW projects and
//! automation refer to them, so never rename one.

use std::sync::Arc;

use nice_plug::prelude::*;
use parking_lot::RwLock;

use mephisto_dsp::builtin_patches;
use mephisto_dsp::macros::{Macro, MacroValues};
use mephisto_patch::PatchSpec;
use mephisto_rt::fx::follow::FollowSettings;

use crate::params::macro_param;
use crate::stored::Stored;

/// The neural models the patch selector lists after the built-in patches, as
/// `NAME_neural`: the shipped ones (a test keeps this list equal to `onnx/models`). A fixed
/// list, so a saved selector value always names the same sound.
pub const NEURAL_MODELS: [&str; 4] = ["nylon_pluck", "saw_lead", "tine_keys", "warm_pad"];

/// How long a mix change glides (the macros glide as the instrument's do).
const SMOOTHING_MS: f32 = 20.0;

/// What the voice follows.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The track's own input.
    #[id = "input"]
    #[name = "Input"]
    Input,
    /// The sidechain input: the track's input is only the dry signal.
    #[id = "sidechain"]
    #[name = "Sidechain"]
    Sidechain,
}

#[derive(Params)]
pub struct FxParams {
    /// The voice: a built-in patch, or a neural model after them.
    #[id = "patch"]
    pub patch: IntParam,
    #[id = "octave"]
    pub octave: IntParam,
    /// Frames whose pitch confidence is below this are unvoiced (the gate closes).
    #[id = "confidence"]
    pub confidence: FloatParam,
    #[id = "loudness"]
    pub loudness_offset: FloatParam,
    /// 0: the input only (delayed by the latency), 1: the voice only.
    #[id = "mix"]
    pub mix: FloatParam,
    #[id = "source"]
    pub source: EnumParam<Source>,
    #[id = "warm"]
    pub warm: FloatParam,
    #[id = "bright"]
    pub bright: FloatParam,
    #[id = "grit"]
    pub grit: FloatParam,
    #[id = "space"]
    pub space: FloatParam,
    #[id = "motion"]
    pub motion: FloatParam,
    #[id = "punch"]
    pub punch: FloatParam,
    /// A PatchSpec to play instead of the selector's patch (a designed patch, or a
    /// user-trained model as `neural.model`), saved with the project. Data this version
    /// cannot read is kept verbatim.
    #[persist = "patch_spec"]
    pub patch_spec: Arc<RwLock<Stored<Option<PatchSpec>>>>,
}

/// The names the patch selector lists, in order.
pub fn patch_names() -> Vec<String> {
    builtin_patches()
        .iter()
        .map(|p| p.name.to_string())
        .chain(NEURAL_MODELS.iter().map(|m| format!("{m}_neural")))
        .collect()
}

impl Default for FxParams {
    fn default() -> Self {
        let names = Arc::new(patch_names());
        let last = names.len() as i32 - 1;
        // The neural tine_keys is the default voice: the timbre transfer users expect.
        let default = names
            .iter()
            .position(|n| n == "tine_keys_neural")
            .unwrap_or(0) as i32;
        let (to_string, from_string) = (names.clone(), names);
        FxParams {
            patch: IntParam::new("Patch", default, IntRange::Linear { min: 0, max: last })
                .with_value_to_string(Arc::new(move |i| {
                    to_string
                        .get(i as usize)
                        .cloned()
                        .unwrap_or_else(|| i.to_string())
                }))
                .with_string_to_value(Arc::new(move |s| {
                    from_string
                        .iter()
                        .position(|n| n == s.trim())
                        .map(|i| i as i32)
                        .or_else(|| s.trim().parse().ok())
                })),
            octave: IntParam::new("Octave", 0, IntRange::Linear { min: -3, max: 3 }),
            confidence: FloatParam::new(
                "Pitch Confidence",
                FollowSettings::default().confidence,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            loudness_offset: FloatParam::new(
                "Loudness Offset",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.1),
            mix: FloatParam::new("Dry/Wet", 1.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
                .with_value_to_string(formatters::v2s_f32_rounded(2)),
            source: EnumParam::new("Pitch Source", Source::Input),
            warm: macro_param(Macro::Warm),
            bright: macro_param(Macro::Bright),
            grit: macro_param(Macro::Grit),
            space: macro_param(Macro::Space),
            motion: macro_param(Macro::Motion),
            punch: macro_param(Macro::Punch),
            patch_spec: Arc::new(RwLock::new(Stored::default())),
        }
    }
}

impl FxParams {
    fn macro_param(&self, m: Macro) -> &FloatParam {
        match m {
            Macro::Warm => &self.warm,
            Macro::Bright => &self.bright,
            Macro::Grit => &self.grit,
            Macro::Space => &self.space,
            Macro::Motion => &self.motion,
            Macro::Punch => &self.punch,
        }
    }

    /// The smoothed macro values, advanced by `frames` samples.
    pub fn next_macros(&self, frames: u32) -> MacroValues {
        Macro::ALL.map(|m| self.macro_param(m).smoothed.next_step(frames))
    }

    /// The follower's settings as they stand.
    pub fn follow(&self) -> FollowSettings {
        FollowSettings {
            confidence: self.confidence.value(),
            semitones: 12.0 * self.octave.value() as f32,
            loudness_offset_db: self.loudness_offset.value(),
        }
    }

    /// What should play: the saved PatchSpec when there is one, else the selector's patch
    /// by name (`None`: a saved spec this version cannot read, which keeps playing
    /// whatever plays).
    pub fn wanted(&self) -> Option<Wanted> {
        match &*self.patch_spec.read() {
            Stored::Value(Some(spec)) => Some(Wanted::Spec(Box::new(spec.clone()))),
            Stored::Value(None) => {
                let names = patch_names();
                let index = (self.patch.value().max(0) as usize).min(names.len() - 1);
                Some(Wanted::Named(names[index].clone()))
            }
            Stored::Unreadable { .. } => None,
        }
    }
}

/// What the FX should play.
#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    /// A patch by the name `mephisto transfer --patch` takes.
    Named(String),
    Spec(Box<PatchSpec>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_lists_the_built_ins_then_every_shipped_model() {
        assert_eq!(
            NEURAL_MODELS.to_vec(),
            mephisto_neural::voices::shipped_models(),
            "update NEURAL_MODELS with the models in onnx/models"
        );
        let names = patch_names();
        assert_eq!(names.len(), builtin_patches().len() + NEURAL_MODELS.len());
        assert_eq!(names.last().unwrap(), "warm_pad_neural");
        let params = FxParams::default();
        assert_eq!(
            params.wanted(),
            Some(Wanted::Named("tine_keys_neural".into())),
            "the default voice"
        );
        *params.patch_spec.write() = Stored::Unreadable {
            raw: serde_json::json!({"from": "a newer Mephisto"}),
            reason: "unknown field".into(),
        };
        assert_eq!(
            params.wanted(),
            None,
            "an unreadable saved patch keeps what plays"
        );
    }
}
