//! The output level of a graph's patch. A graph's nodes can be anything from a faint
//! sine through three high-passes to eight full-level saws, so the generated program has an
//! output trim before its saturation, and once the program is compiled the trim is set so
//! the sanity probe peaks near [`TARGET_PEAK`]: every graph plays about as loud as a
//! built-in patch, and none is refused for silence that a trim can fix. The probe is
//! played with the shortest attack: the probe's notes are short, and a slow swell measured
//! before it has grown would be trimmed far too loud for a held note.

use mephisto_dsp::macros::NEUTRAL_MACROS;

use crate::build::OfflinePatch;
use crate::error::BuildError;
use crate::probe::Probe;
use crate::render::render_score;
use crate::spec::PatchSpec;

use super::ranges::{ATTACK, LEVEL_DB};
use super::MacroControl;

/// The label of the output trim (dB) in every generated program.
pub const LEVEL_CONTROL: &str = "level";

/// The peak the sanity probe (C2, C4, C6 at full velocity) should reach: the level the
/// built-in patches are designed at, below the engine's limiter.
pub const TARGET_PEAK: f32 = 0.4;

/// Renders up to this many probes to settle the trim: the saturation after it flattens
/// the response, so the steps are taken from the slope measured so far (a secant search).
const ROUNDS: usize = 8;

/// Within this many dB of the target is close enough.
const TOLERANCE_DB: f32 = 1.0;

/// The flattest slope (dB out per dB of trim) a step assumes, and the largest step.
const MIN_SLOPE: f32 = 0.15;
const MAX_STEP_DB: f32 = 24.0;

/// Sets `spec`'s output trim so its sanity probe peaks near [`TARGET_PEAK`]; `instantiate`
/// makes an instance of a spec with this spec's program (compiled once, the trim is only a
/// value). Returns the peak the probe reached with the trim that was kept.
pub fn normalize_level(
    spec: &mut PatchSpec,
    instantiate: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<f32, BuildError> {
    let probe = Probe::sanity();
    let mut trim = spec.params.get(LEVEL_CONTROL).copied().unwrap_or(0.0);
    let mut measured = spec.clone();
    measured
        .params
        .insert(MacroControl::Attack.label().to_string(), ATTACK.min as f32);
    let (low, high) = (LEVEL_DB.min as f32, LEVEL_DB.max as f32);
    let mut peak = 0.0;
    let mut previous: Option<(f32, f32)> = None;
    for _ in 0..ROUNDS {
        spec.params.insert(LEVEL_CONTROL.to_string(), trim);
        measured.params.insert(LEVEL_CONTROL.to_string(), trim);
        let audio = render_score(
            instantiate(&measured)?,
            &probe.score(),
            NEUTRAL_MACROS,
            probe.seconds(),
            probe.sample_rate,
        );
        peak = audio
            .left
            .iter()
            .chain(&audio.right)
            .fold(0.0f32, |m, s| m.max(s.abs()));
        if !(peak > 0.0 && peak.is_finite()) {
            if trim == high {
                break;
            }
            trim = high;
            continue;
        }
        let peak_db = 20.0 * peak.log10();
        let missing_db = 20.0 * TARGET_PEAK.log10() - peak_db;
        if missing_db.abs() < TOLERANCE_DB {
            break;
        }
        let slope = match previous {
            Some((t, p)) if t != trim => ((peak_db - p) / (trim - t)).max(MIN_SLOPE),
            _ => 1.0,
        };
        let next = (trim + (missing_db / slope).clamp(-MAX_STEP_DB, MAX_STEP_DB)).clamp(low, high);
        if next == trim {
            break;
        }
        previous = Some((trim, peak_db));
        trim = next;
    }
    Ok(peak)
}
