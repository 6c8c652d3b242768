//! The input's pitch and loudness, measured as a stream ([`Tracker`]): samples go into a
//! ring, and a frame centred on any recent sample is analysed on demand with YIN
//! (`mephisto_analysis::Yin`, planned once) and an RMS over the same samples. Nothing
//! allocates after [`Tracker::new`].

use mephisto_analysis::{Pitch, Yin};

/// Seconds between two measurements (a frame period of the transfer).
pub const HOP_SECONDS: f64 = 0.005;

/// The pitch range searched: below a bass voice's lowest notes to above a soprano's
/// highest. The lowest sets the frame's length (two periods) and so the latency.
pub const MIN_HZ: f32 = 50.0;
pub const MAX_HZ: f32 = 2000.0;

/// What one frame of the input says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Analysis {
    /// YIN's best candidate and how aperiodic the frame is there (`None`: silence).
    pub pitch: Option<Pitch>,
    /// `20·log10(rms + 1e-7)` of the frame's samples, in dBFS (the training data's measure).
    pub loudness_db: f32,
}

/// A streaming pitch and loudness tracker (see the module notes).
pub struct Tracker {
    yin: Yin,
    /// The frame being analysed.
    frame: Vec<f32>,
    /// The last `ring.len()` input samples (a power of two), by absolute index.
    ring: Vec<f32>,
    /// Samples pushed so far.
    written: u64,
}

impl Tracker {
    /// A tracker for input at `sample_rate`. Allocates.
    pub fn new(sample_rate: f32) -> Tracker {
        let yin = Yin::with_range(sample_rate, MIN_HZ, MAX_HZ);
        let frame_len = yin.frame_len();
        Tracker {
            frame: vec![0.0; frame_len],
            ring: vec![0.0; (4 * frame_len).next_power_of_two()],
            written: 0,
            yin,
        }
    }

    /// Samples one analysis reads, centred on its instant.
    pub fn frame_len(&self) -> usize {
        self.frame.len()
    }

    /// Samples after a frame's centre that must be pushed before it can be analysed.
    pub fn lookahead(&self) -> usize {
        self.frame.len() - self.frame.len() / 2
    }

    /// Appends input samples.
    pub fn push(&mut self, input: &[f32]) {
        let mask = self.ring.len() - 1;
        for &x in input {
            self.ring[self.written as usize & mask] = x;
            self.written += 1;
        }
    }

    /// Forgets the input so far (it reads as silence).
    pub fn reset(&mut self) {
        self.ring.fill(0.0);
        self.written = 0;
    }

    /// Samples pushed so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Analyses the frame centred on input sample `centre` (samples before the stream began
    /// are silence). Needs `centre + lookahead()` samples pushed, and the frame still in the
    /// ring (within three frames of the newest sample). Allocation-free.
    pub fn analyse(&mut self, centre: u64) -> Analysis {
        let len = self.frame.len();
        let mask = self.ring.len() as i64 - 1;
        let first = centre as i64 - (len / 2) as i64;
        debug_assert!(first + len as i64 <= self.written as i64);
        let mut power = 0.0f64;
        for (i, slot) in self.frame.iter_mut().enumerate() {
            let n = first + i as i64;
            *slot = if n < 0 {
                0.0
            } else {
                self.ring[(n & mask) as usize]
            };
            power += f64::from(*slot) * f64::from(*slot);
        }
        let rms = (power / len as f64).sqrt();
        Analysis {
            pitch: self.yin.analyse(&self.frame),
            loudness_db: (20.0 * (rms + 1e-7).log10()) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_is_tracked_to_a_cent_at_its_level_and_silence_has_no_pitch() {
        let sr = 48_000.0;
        let mut tracker = Tracker::new(sr);
        let hz = 261.63f32;
        let amplitude = 0.1f32;
        let sine: Vec<f32> = (0..48_000)
            .map(|n| amplitude * (std::f32::consts::TAU * hz * n as f32 / sr).sin())
            .collect();
        // Pushed in odd pieces.
        for piece in sine[..24_000].chunks(333) {
            tracker.push(piece);
        }
        let a = tracker.analyse(20_000);
        let pitch = a.pitch.unwrap();
        assert!((1200.0 * (pitch.hz / hz).log2()).abs() < 1.0, "{pitch:?}");
        let expected_db = 20.0 * (amplitude / 2f32.sqrt()).log10();
        assert!((a.loudness_db - expected_db).abs() < 0.1, "{a:?}");
        tracker.push(&vec![0.0; 8000]);
        let silent = tracker.analyse(30_000);
        assert_eq!(silent.pitch, None);
        assert!(silent.loudness_db < -130.0);
    }
}
