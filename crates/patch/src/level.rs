//! Designed level: every designed patch is levelled to one loudness target through the
//! output trim of its PatchSpec (`trim_db`), so two designs from different templates or
//! words play at the same loudness, and none drives the engine's limiter on a single note.
//!
//! The measure: the level probe ([`Probe::level`]: C3 at velocity 0.8, held 1 s and
//! followed 0.5 s, one voice, the raw instance output before the engine's limiter), mixed
//! to mono, its loudest BS.1770 momentary loudness (`analysis::level`, K-weighted 400 ms
//! windows). The target is [`LOUDNESS_TARGET_LUFS`]; a trim never lets the probe's peak
//! above [`PEAK_CEILING_DBFS`], so a sharp hit whose peak stands far above its loudness
//! stays a little under the target instead of reaching the limiter.

use mephisto_analysis::features::FLOOR_DB;
use mephisto_analysis::level::momentary_max_lufs;
use mephisto_dsp::macros::NEUTRAL_MACROS;
use mephisto_rt::engine::note_to_hz;
use mephisto_rt::instance::CHUNK;

use crate::build::OfflinePatch;
use crate::probe::Probe;
use crate::spec::TRIM_RANGE_DB;

/// The loudness every designed patch is levelled to, LUFS (loudest momentary loudness of
/// the level probe, mono).
pub const LOUDNESS_TARGET_LUFS: f32 = -23.0;

/// The highest peak a trim may give the level probe, dBFS: a dB under the engine's limiter
/// (−0.18 dBFS).
pub const PEAK_CEILING_DBFS: f32 = -1.0;

/// How loud a patch is on the level probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    /// Loudest momentary loudness, LUFS.
    pub lufs: f32,
    /// Largest absolute sample, dBFS.
    pub peak_dbfs: f32,
}

impl Loudness {
    /// Whether the probe made any sound at all.
    pub fn is_audible(&self) -> bool {
        self.lufs > FLOOR_DB
    }
}

/// The level probe as a patch played it: mono, with its stereo peak.
#[derive(Debug, Clone, PartialEq)]
pub struct Played {
    pub mono: Vec<f32>,
    /// Largest absolute sample of either channel.
    pub peak: f32,
    pub sample_rate: u32,
    /// When the note was released, seconds from the start.
    pub note_off_s: f64,
}

impl Played {
    /// How loud it played.
    pub fn loudness(&self) -> Loudness {
        Loudness {
            lufs: momentary_max_lufs(&self.mono, self.sample_rate as f32),
            peak_dbfs: self.peak_dbfs(),
        }
    }

    /// Its peak, dBFS.
    pub fn peak_dbfs(&self) -> f32 {
        if self.peak > 0.0 {
            20.0 * self.peak.log10()
        } else {
            FLOOR_DB
        }
    }
}

/// Plays the level probe on `patch` (its trim included, every macro at 0.5).
pub fn play(mut patch: OfflinePatch) -> Played {
    let probe = Probe::level();
    let frames = |seconds: f64| (seconds * probe.sample_rate as f64).round() as usize;
    let (held, total) = (frames(probe.held_s), frames(probe.seconds()));
    patch.apply_macros(&NEUTRAL_MACROS);
    patch.note_on(0, note_to_hz(probe.notes[0] as f32), probe.velocity);
    let mut mono = Vec::with_capacity(total);
    let mut peak = 0.0f32;
    while mono.len() < total {
        if mono.len() == held {
            patch.note_off(0);
        }
        let end = if mono.len() < held { held } else { total };
        let n = (end - mono.len()).min(CHUNK);
        match patch.render(n) {
            Some((left, right)) => {
                for (l, r) in left.iter().zip(right) {
                    peak = peak.max(l.abs()).max(r.abs());
                    mono.push(0.5 * (l + r));
                }
            }
            // NaN or infinity: the sanity gate refuses it; it has no level.
            None => mono.extend(std::iter::repeat_n(0.0, n)),
        }
    }
    Played {
        mono,
        peak,
        sample_rate: probe.sample_rate,
        note_off_s: probe.held_s,
    }
}

/// Plays the level probe on `patch` (its trim included) and measures it.
pub fn measure(patch: OfflinePatch) -> Loudness {
    play(patch).loudness()
}

/// The trim that brings a patch measured as `measured` with trim `current_db` to the
/// target plus `offset_db` ("loud", "quiet"), with its peak at most at the ceiling, within
/// the trim's range. A silent measurement keeps the current trim.
pub fn trim_for(measured: Loudness, current_db: f32, offset_db: f32) -> f32 {
    if !measured.is_audible() {
        return current_db;
    }
    let to_target = LOUDNESS_TARGET_LUFS + offset_db - measured.lufs;
    let to_ceiling = PEAK_CEILING_DBFS - measured.peak_dbfs;
    let (low, high) = TRIM_RANGE_DB;
    (current_db + to_target.min(to_ceiling)).clamp(low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loud(lufs: f32, peak_dbfs: f32) -> Loudness {
        Loudness { lufs, peak_dbfs }
    }

    #[test]
    fn a_trim_reaches_the_target_unless_the_peak_would_pass_the_ceiling() {
        // 10 dB too quiet, plenty of headroom: +10 dB.
        assert_eq!(trim_for(loud(-33.0, -20.0), 0.0, 0.0), 10.0);
        // The current trim is part of what was measured.
        assert_eq!(trim_for(loud(-33.0, -20.0), -4.0, 0.0), 6.0);
        // A "loud" offset.
        assert_eq!(trim_for(loud(-23.0, -20.0), 0.0, 2.5), 2.5);
        // A hit whose peak stands 22 dB over its loudness stops at the ceiling.
        assert_eq!(trim_for(loud(-30.0, -8.0), 0.0, 0.0), 7.0);
        // Too hot: trimmed down.
        assert_eq!(trim_for(loud(10.0, 24.0), 0.0, 0.0), -33.0);
        // Silence keeps what it has; the range holds.
        assert_eq!(trim_for(loud(FLOOR_DB, FLOOR_DB), 3.0, 0.0), 3.0);
        assert_eq!(trim_for(loud(-110.0, -100.0), 0.0, 0.0), TRIM_RANGE_DB.1);
    }
}
