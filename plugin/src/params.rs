//! The host-visible parameters. Their string ids are stable: DAW projects and automation
//! refer to them, so never rename one.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use nice_plug::prelude::*;
use parking_lot::RwLock;

use crate::history::History;
use crate::stored::{HostLoaded, Stored};
use mephisto_dsp::macros::{Macro, MacroValues};
use mephisto_dsp::{builtin_patches, find_builtin};
use mephisto_patch::PatchSpec;

/// How long a macro or gain change glides, so automation steps do not click.
const SMOOTHING_MS: f32 = 20.0;

/// The plugin window's size at 100 % when a project has none, in logical points.
pub const DEFAULT_EDITOR_SIZE: (u32, u32) = (1180, 780);

#[derive(Params)]
pub struct MephistoParams {
    /// The built-in patch playing, by its index in the patch list.
    #[id = "patch"]
    pub patch: IntParam,
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
    /// Output level after the patch and before the safety limiter.
    #[id = "gain"]
    pub master_gain: FloatParam,
    /// The host's bypass: the engine fades its output to silence (and back) over 30 ms.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// The PatchSpec of the designed (or loaded) patch playing, if any: saved with the
    /// project so re-opening it restores the exact patch (from the cache, or by
    /// recompiling). `None` while a built-in chosen with the selector plays. The host may
    /// load it after activation too; the worker then plays it.
    #[persist = "patch_spec"]
    pub patch_spec: HostLoaded<Stored<Option<PatchSpec>>>,
    /// Every patch that went live, for undo/redo and A/B.
    #[persist = "history"]
    pub history: HostLoaded<Stored<History>>,
    /// The plugin window's size at 100 % scale (logical points), so it reopens as it was left.
    #[persist = "editor_size"]
    pub editor_size: Arc<RwLock<(u32, u32)>>,
}

impl Default for MephistoParams {
    fn default() -> Self {
        let last = builtin_patches().len() as i32 - 1;
        let loads = Arc::new(AtomicU64::new(0));
        MephistoParams {
            patch: IntParam::new("Patch", 0, IntRange::Linear { min: 0, max: last })
                .with_value_to_string(Arc::new(|i| {
                    builtin_patches()
                        .get(i as usize)
                        .map_or_else(|| i.to_string(), |p| p.name.to_string())
                }))
                .with_string_to_value(Arc::new(|s| {
                    find_builtin(s)
                        .map(|(i, _)| i as i32)
                        .or_else(|| s.trim().parse().ok())
                })),
            warm: macro_param(Macro::Warm),
            bright: macro_param(Macro::Bright),
            grit: macro_param(Macro::Grit),
            space: macro_param(Macro::Space),
            motion: macro_param(Macro::Motion),
            punch: macro_param(Macro::Punch),
            master_gain: FloatParam::new(
                "Master Gain",
                0.0,
                FloatRange::Linear {
                    min: -36.0,
                    max: 12.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.1)
            .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS)),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            patch_spec: HostLoaded::new(Stored::default(), loads.clone()),
            history: HostLoaded::new(Stored::default(), loads),
            editor_size: Arc::new(RwLock::new(DEFAULT_EDITOR_SIZE)),
        }
    }
}

/// A macro's host parameter: 0–1, 0.5 as designed, smoothed (the instrument's and Mephisto
/// FX's).
pub(crate) fn macro_param(m: Macro) -> FloatParam {
    FloatParam::new(
        m.display_name(),
        0.5,
        FloatRange::Linear { min: 0.0, max: 1.0 },
    )
    .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
    .with_value_to_string(formatters::v2s_f32_rounded(2))
}

impl MephistoParams {
    pub fn macro_param(&self, m: Macro) -> &FloatParam {
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
}
