//! The probes: the notes Mephisto plays on a patch to measure it, in one place. Each use has
//! its own preset because each asks a different question:
//!
//! | preset | notes | held | after note-off | velocity | used by |
//! | --- | --- | --- | --- | --- | --- |
//! | [`Probe::sanity`] | C2, C4, C6 in turn | 0.35 s | 0.15 s | 1.0 (the loudest a player makes) | the sanity gate: NaN, level, silence |
//! | [`Probe::calibration`] | C2, C3, C4, each on a fresh instance | 0.6 s | 2.4 s (tails) | 0.8 | macro calibration |
//! | [`Probe::design_check`] | C4 | 0.5 s | 0.1 s | 0.8 | the offline designer's analysis check |
//! | [`Probe::default_render`] | C3 | 1 s | 2 s | 0.8 | `mephisto render` without a score, prompt evaluation, matching |
//! | [`Probe::level`] | C3 | 1 s | 0.5 s | 0.8 | levelling a patch to the loudness target (`crate::level`) |

use crate::score::{ScoreNote, SCORE_VELOCITY};

/// Notes played one after another, each held `held_s` and followed by `release_s` before
/// the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// MIDI notes.
    pub notes: Vec<u8>,
    /// How long each note is held, in seconds.
    pub held_s: f64,
    /// How long each note is followed after its note-off, in seconds (for calibration, how
    /// long a tail is measured).
    pub release_s: f64,
    pub velocity: f32,
    /// Hz.
    pub sample_rate: u32,
}

impl Probe {
    /// The sanity gate's: the extremes of the keyboard at full velocity, the loudest and
    /// most fragile a patch will be played; 1.5 s in all.
    pub fn sanity() -> Probe {
        Probe {
            notes: vec![36, 60, 84],
            held_s: 0.35,
            release_s: 0.15,
            velocity: 1.0,
            sample_rate: 48_000,
        }
    }

    /// Macro calibration's: C2, C3 and C4, each held 0.6 s, at 48 kHz. Tails are followed
    /// for 2.4 s after note-off, which holds every built-in patch's designed tail (the
    /// longest, dark_drone's, is 2.3 s); longer tails read as 2.4 s, a lower bound, so the
    /// top of a Space sweep may tie.
    pub fn calibration() -> Probe {
        Probe {
            notes: vec![36, 48, 60],
            held_s: 0.6,
            release_s: 2.4,
            velocity: SCORE_VELOCITY,
            sample_rate: 48_000,
        }
    }

    /// The offline designer's check of brightness and warmth: one middle C, short, so a
    /// design can afford a few.
    pub fn design_check() -> Probe {
        Probe {
            notes: vec![60],
            held_s: 0.5,
            release_s: 0.1,
            velocity: SCORE_VELOCITY,
            sample_rate: 48_000,
        }
    }

    /// What `mephisto render` plays without a score: C3 held for one second, then its tail.
    pub fn default_render() -> Probe {
        Probe {
            notes: vec![48],
            held_s: 1.0,
            release_s: 2.0,
            velocity: SCORE_VELOCITY,
            sample_rate: 48_000,
        }
    }

    /// Levelling's: the default render's note, followed only long enough for a tail's
    /// first half second (a note is loudest while it is held or just after).
    pub fn level() -> Probe {
        Probe {
            release_s: 0.5,
            ..Probe::default_render()
        }
    }

    /// Seconds from one note's start to the next's.
    pub fn slot_s(&self) -> f64 {
        self.held_s + self.release_s
    }

    /// The whole probe's length, in seconds.
    pub fn seconds(&self) -> f64 {
        self.slot_s() * self.notes.len() as f64
    }

    /// The notes as a score: one after another, `slot_s` apart.
    pub fn score(&self) -> Vec<ScoreNote> {
        self.notes
            .iter()
            .enumerate()
            .map(|(i, &note)| ScoreNote {
                note,
                start: i as f64 * self.slot_s(),
                duration: self.held_s,
                velocity: self.velocity,
            })
            .collect()
    }

    /// Note `i` alone, starting at 0 (for probes that play each note on a fresh instance).
    pub fn note_alone(&self, i: usize) -> ScoreNote {
        ScoreNote {
            note: self.notes[i],
            start: 0.0,
            duration: self.held_s,
            velocity: self.velocity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_plays_its_notes_in_turn() {
        let probe = Probe::sanity();
        let score = probe.score();
        let starts: Vec<f64> = score.iter().map(|n| n.start).collect();
        assert_eq!(starts, [0.0, 0.5, 1.0]);
        assert!(score
            .iter()
            .all(|n| n.duration == 0.35 && n.velocity == 1.0));
        assert_eq!(probe.seconds(), 1.5);
        let render = Probe::default_render().score();
        assert_eq!(
            render,
            [ScoreNote {
                note: 48,
                start: 0.0,
                duration: 1.0,
                velocity: SCORE_VELOCITY
            }],
            "C3 held for one second"
        );
    }
}
