//! What a voice plays, frame by frame, from the input's measurements ([`Follower`]): a gate
//! that opens on a voiced, loud enough frame and closes on silence or a lasting unvoiced
//! stretch, onsets (the gate opening, a jump in loudness, a jump in pitch) that restart a
//! Faust voice's envelope, the pitch shifted by the octave control, and the loudness a
//! neural voice is given, falling to silence once the gate closes.

use super::tracker::Analysis;

/// The gate opens on a voiced frame at or above this level (dBFS, after the offset)…
pub const OPEN_DB: f32 = -50.0;
/// …and closes below this one, or this far below the loudest frame since the onset (a
/// note's own tail, a room's reverberation).
pub const CLOSE_DB: f32 = -60.0;
const CLOSE_BELOW_PEAK_DB: f32 = 30.0;
/// Unvoiced frames in a row (a consonant, a breath) before the gate closes.
const HOLD_FRAMES: u32 = 8;
/// A rise of this much within two frames, gate open, is a new onset (a re-articulated note).
const REATTACK_DB: f32 = 9.0;
/// …when it reaches within this much of the note's peak (not a flicker in a fading tail).
const REATTACK_BELOW_PEAK_DB: f32 = 12.0;
/// A closed gate reopens only after the level rose this much from its lowest since.
const REOPEN_RISE_DB: f32 = 6.0;
/// A pitch step of this many semitones between consecutive voiced frames is a new note.
const NEW_NOTE_SEMITONES: f32 = 1.0;
/// The loudness a closed gate falls by per frame, to [`FLOOR_DB`]: 100 dB in 20 frames.
const FALL_DB: f32 = 5.0;
/// Silence for a neural voice (its training data's floor).
pub const FLOOR_DB: f32 = -100.0;
/// Input levels mapped to velocity 0.1 and 1 at an onset.
const VELOCITY_RANGE_DB: [f32; 2] = [-55.0, -10.0];

/// The controls that shape the following.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FollowSettings {
    /// Frames whose pitch confidence (`1 − aperiodicity`) is below this are unvoiced.
    pub confidence: f32,
    /// Semitones added to the input's pitch (12 per octave).
    pub semitones: f32,
    /// Added to the input's loudness before anything reads it.
    pub loudness_offset_db: f32,
}

impl Default for FollowSettings {
    fn default() -> Self {
        FollowSettings {
            confidence: 0.8,
            semitones: 0.0,
            loudness_offset_db: 0.0,
        }
    }
}

/// One frame of what the voice plays.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FollowFrame {
    /// The voice sounds.
    pub gate: bool,
    /// A new note starts here (a Faust voice's envelope restarts).
    pub onset: bool,
    /// The pitch to play (the last voiced one, shifted), in Hz.
    pub hz: f32,
    /// The loudness a neural voice is given, dBFS: the input's (with the offset) while the
    /// gate is open, falling to [`FLOOR_DB`] after.
    pub loudness_db: f32,
    /// A Faust voice's velocity for an onset, from the level there.
    pub velocity: f32,
}

/// Turns measurements into [`FollowFrame`]s (see the module notes).
#[derive(Clone, Debug)]
pub struct Follower {
    open: bool,
    /// The last voiced pitch, unshifted.
    input_hz: f32,
    unvoiced: u32,
    /// The last two levels, newest first.
    recent_db: [f32; 2],
    /// Frames since the last onset (a re-attack needs two frames of the new note first).
    since_onset: u32,
    /// The loudest level since the gate opened.
    peak_db: f32,
    /// The quietest level since the gate closed.
    low_db: f32,
    /// A pitch a jump went to, waiting for the next frame to confirm it.
    candidate_hz: f32,
    fed_db: f32,
}

impl Default for Follower {
    fn default() -> Self {
        Follower {
            open: false,
            input_hz: 0.0,
            unvoiced: 0,
            recent_db: [FLOOR_DB; 2],
            since_onset: 0,
            peak_db: FLOOR_DB,
            low_db: FLOOR_DB,
            candidate_hz: 0.0,
            fed_db: FLOOR_DB,
        }
    }
}

impl Follower {
    /// The frame after `analysis`.
    pub fn next(&mut self, analysis: &Analysis, settings: &FollowSettings) -> FollowFrame {
        let level = analysis.loudness_db + settings.loudness_offset_db;
        let pitch = analysis
            .pitch
            .filter(|p| 1.0 - p.aperiodicity >= settings.confidence);
        let voiced = pitch.is_some() && level >= CLOSE_DB;
        let mut onset = false;
        if let Some(p) = pitch.filter(|_| voiced) {
            let step = |from: f32| 12.0 * (p.hz / from).log2();
            if self.input_hz > 0.0 && step(self.input_hz).abs() >= NEW_NOTE_SEMITONES {
                // A jump: a new note if the next frame agrees, else a one-frame error (an
                // octave slip) and the pitch holds.
                if self.candidate_hz > 0.0 && step(self.candidate_hz).abs() < 0.5 {
                    onset |= self.open;
                    self.input_hz = p.hz;
                    self.candidate_hz = 0.0;
                } else {
                    self.candidate_hz = p.hz;
                }
            } else {
                self.input_hz = p.hz;
                self.candidate_hz = 0.0;
            }
            self.unvoiced = 0;
        } else {
            self.unvoiced += 1;
        }
        if self.open {
            self.peak_db = self.peak_db.max(level);
            let close = CLOSE_DB.max(self.peak_db - CLOSE_BELOW_PEAK_DB);
            if level < close {
                self.open = false;
                self.low_db = level;
            } else if self.unvoiced > HOLD_FRAMES {
                // Closed by the voicing, not the level: the next voiced frame may reopen.
                self.open = false;
                self.low_db = FLOOR_DB;
            } else if voiced
                && self.since_onset > 2
                && level - self.recent_db[1] >= REATTACK_DB
                && level >= self.peak_db - REATTACK_BELOW_PEAK_DB
            {
                onset = true;
            }
        } else {
            // Opening needs a rise from the quietest level since the gate closed, so a tail
            // hovering at the closing level does not flutter.
            self.low_db = self.low_db.min(level);
            if voiced && level >= OPEN_DB && level >= self.low_db + REOPEN_RISE_DB {
                self.open = true;
                onset = true;
                self.peak_db = level;
                self.input_hz = pitch.map_or(self.input_hz, |p| p.hz);
            }
        }
        self.recent_db = [level, self.recent_db[0]];
        self.since_onset = if onset {
            0
        } else {
            self.since_onset.saturating_add(1)
        };
        self.fed_db = if self.open {
            level.max(FLOOR_DB)
        } else {
            (self.fed_db - FALL_DB).max(FLOOR_DB)
        };
        let [quiet, loud] = VELOCITY_RANGE_DB;
        FollowFrame {
            gate: self.open,
            onset: onset && self.open,
            hz: self.input_hz * 2f32.powf(settings.semitones / 12.0),
            loudness_db: self.fed_db,
            velocity: (0.1 + 0.9 * (level - quiet) / (loud - quiet)).clamp(0.1, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mephisto_analysis::Pitch;

    fn frame(hz: Option<f32>, db: f32) -> Analysis {
        Analysis {
            pitch: hz.map(|hz| Pitch {
                hz,
                aperiodicity: 0.05,
            }),
            loudness_db: db,
        }
    }

    #[test]
    fn the_gate_follows_voicing_and_level_with_onsets_and_the_octave() {
        let mut f = Follower::default();
        let s = FollowSettings {
            semitones: 12.0,
            ..FollowSettings::default()
        };
        // Too quiet to open, then voiced and loud enough: an onset an octave up.
        assert!(!f.next(&frame(Some(220.0), -52.0), &s).gate);
        let on = f.next(&frame(Some(220.0), -20.0), &s);
        assert!(on.gate && on.onset, "{on:?}");
        assert!((on.hz - 440.0).abs() < 1e-3);
        assert_eq!(on.loudness_db, -20.0);
        assert!(on.velocity > 0.7 && on.velocity < 0.9, "{on:?}");
        // Held: no onset; a small pitch drift follows.
        let held = f.next(&frame(Some(222.0), -21.0), &s);
        assert!(held.gate && !held.onset);
        assert!((held.hz - 444.0).abs() < 1e-3);
        // A step of two semitones for one frame is held as an error; confirmed, a new note.
        let slip = f.next(&frame(Some(444.0), -21.0), &s);
        assert!(!slip.onset && (slip.hz - 444.0).abs() < 1e-3, "{slip:?}");
        assert!(!f.next(&frame(Some(249.2), -21.0), &s).onset);
        let step = f.next(&frame(Some(249.2), -21.0), &s);
        assert!(step.onset && (step.hz - 498.4).abs() < 0.1, "{step:?}");
        // A short unvoiced stretch holds the gate and the pitch; a long one closes it.
        for _ in 0..HOLD_FRAMES {
            let consonant = f.next(&frame(None, -30.0), &s);
            assert!(consonant.gate && (consonant.hz - 498.4).abs() < 0.1);
        }
        let closed = f.next(&frame(None, -30.0), &s);
        assert!(!closed.gate);
        assert_eq!(closed.loudness_db, -30.0 - FALL_DB);
        // A note fading 30 dB below its peak closes the gate (its tail is not a note).
        let mut fading = Follower::default();
        fading.next(&frame(Some(220.0), -10.0), &s);
        assert!(fading.next(&frame(Some(220.0), -39.0), &s).gate);
        assert!(!fading.next(&frame(Some(220.0), -41.0), &s).gate);
        // Low confidence is unvoiced whatever the level.
        let strict = FollowSettings {
            confidence: 0.99,
            ..s
        };
        assert!(!f.next(&frame(Some(220.0), -10.0), &strict).gate);
        // The loudness offset moves the level everything reads.
        let boosted = FollowSettings {
            loudness_offset_db: 20.0,
            ..s
        };
        let loud = f.next(&frame(Some(220.0), -65.0), &boosted);
        assert!(
            loud.gate && loud.onset && loud.loudness_db == -45.0,
            "{loud:?}"
        );
        // A re-attack: 9 dB up within two frames, once the note has begun.
        for _ in 0..3 {
            assert!(!f.next(&frame(Some(220.0), -40.0), &boosted).onset);
        }
        assert!(f.next(&frame(Some(220.0), -25.0), &boosted).onset);
    }
}
