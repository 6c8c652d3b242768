//! YIN fundamental-frequency estimation (de Cheveigné & Kawahara, 2002) of single frames. The
//! difference function comes from an FFT cross-correlation, planned once in [`Yin::new`], so an
//! estimate allocates nothing and stays fast in debug builds: the audio thread may call
//! [`Yin::analyse`] (Mephisto FX tracks its input's pitch with it).

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Lowest fundamental searched for: just below B0 (30.9 Hz).
pub const F0_MIN_HZ: f32 = 30.0;
/// Highest fundamental searched for: above C8 (4186 Hz).
pub const F0_MAX_HZ: f32 = 5000.0;
/// A period is accepted where the cumulative mean normalised difference first dips below this.
/// The paper suggests 0.1; 0.15 still keeps octave errors away from synth tones and accepts
/// detuned, chorused ones as voiced.
pub const THRESHOLD: f32 = 0.15;

/// Estimates the fundamental of frames of [`Yin::frame_len`] samples at one sample rate.
pub struct Yin {
    sample_rate: f32,
    /// Samples summed for each lag: as long as the longest period, so every lag sees a full one.
    window: usize,
    /// Shortest lag searched (samples): the period of [`F0_MAX_HZ`].
    tau_min: usize,
    /// Longest lag searched (samples): the period of [`F0_MIN_HZ`].
    tau_max: usize,
    /// Forward and inverse FFTs long enough that the cross-correlation does not wrap around.
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
    /// The first `window` samples of the frame, then its cross-correlation with the whole frame.
    head: Vec<Complex<f32>>,
    /// The whole frame's spectrum.
    whole: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// The cumulative mean normalised difference, indexed by lag.
    cmnd: Vec<f32>,
}

/// A frame's best period candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pitch {
    pub hz: f32,
    /// The cumulative mean normalised difference at the period: 0 for a perfectly periodic
    /// frame, about 1 for noise. `1 - aperiodicity` is the pitch's confidence.
    pub aperiodicity: f32,
}

impl Yin {
    /// Searches fundamentals from [`F0_MIN_HZ`] to [`F0_MAX_HZ`].
    pub fn new(sample_rate: f32) -> Self {
        Self::with_range(sample_rate, F0_MIN_HZ, F0_MAX_HZ)
    }

    /// Searches fundamentals from `min_hz` to `max_hz`: a higher `min_hz` needs shorter frames
    /// (less latency for a tracker).
    pub fn with_range(sample_rate: f32, min_hz: f32, max_hz: f32) -> Self {
        let tau_max = (sample_rate / min_hz).ceil().max(4.0) as usize;
        let tau_min = ((sample_rate / max_hz).floor() as usize).clamp(2, tau_max - 2);
        let window = tau_max;
        let fft_size = (window + tau_max + 1).next_power_of_two();
        let mut planner = FftPlanner::new();
        let forward = planner.plan_fft_forward(fft_size);
        let inverse = planner.plan_fft_inverse(fft_size);
        let scratch_len = forward
            .get_inplace_scratch_len()
            .max(inverse.get_inplace_scratch_len());
        Self {
            sample_rate,
            window,
            tau_min,
            tau_max,
            forward,
            inverse,
            head: vec![Complex::default(); fft_size],
            whole: vec![Complex::default(); fft_size],
            scratch: vec![Complex::default(); scratch_len],
            cmnd: vec![0.0; tau_max + 2],
        }
    }

    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Samples [`Yin::estimate`] reads: the window plus the longest lag and one more for
    /// interpolation.
    pub fn frame_len(&self) -> usize {
        self.window + self.tau_max + 1
    }

    /// The fundamental of `frame` in Hz, or `None` when it is unvoiced (no lag is periodic
    /// enough) or shorter than [`Yin::frame_len`].
    pub fn estimate(&mut self, frame: &[f32]) -> Option<f32> {
        self.analyse(frame)
            .filter(|p| p.aperiodicity < THRESHOLD)
            .map(|p| p.hz)
    }

    /// The best period candidate of `frame`: the first dip of the cumulative mean normalised
    /// difference below [`THRESHOLD`] (at its local minimum), else its lowest point, with how
    /// aperiodic the frame is there. `None` for a frame shorter than [`Yin::frame_len`] or
    /// silence. Allocation-free.
    pub fn analyse(&mut self, frame: &[f32]) -> Option<Pitch> {
        let frame = frame.get(..self.frame_len())?;
        let (window, tau_max) = (self.window, self.tau_max);

        for (n, slot) in self.head.iter_mut().enumerate() {
            *slot = Complex::new(if n < window { frame[n] } else { 0.0 }, 0.0);
        }
        for (n, slot) in self.whole.iter_mut().enumerate() {
            *slot = Complex::new(frame.get(n).copied().unwrap_or(0.0), 0.0);
        }
        self.forward
            .process_with_scratch(&mut self.head, &mut self.scratch);
        self.forward
            .process_with_scratch(&mut self.whole, &mut self.scratch);
        for (h, w) in self.head.iter_mut().zip(&self.whole) {
            *h = h.conj() * w;
        }
        self.inverse
            .process_with_scratch(&mut self.head, &mut self.scratch);
        // head[tau] is now N * sum_{j < window} frame[j] * frame[j + tau].
        let norm = 1.0 / self.head.len() as f64;

        let energy_head: f64 = frame[..window].iter().map(|&x| (x as f64).powi(2)).sum();
        let mut energy_lagged = energy_head;
        let mut running_sum = 0.0f64;
        self.cmnd[0] = 1.0;
        for tau in 1..=tau_max + 1 {
            energy_lagged +=
                (frame[tau + window - 1] as f64).powi(2) - (frame[tau - 1] as f64).powi(2);
            let correlation = self.head[tau].re as f64 * norm;
            let difference = (energy_head + energy_lagged - 2.0 * correlation).max(0.0);
            running_sum += difference;
            self.cmnd[tau] = if running_sum > 0.0 {
                (difference * tau as f64 / running_sum) as f32
            } else {
                1.0
            };
        }

        if energy_head == 0.0 {
            return None;
        }
        let cmnd = &self.cmnd;
        let mut tau = match (self.tau_min..=tau_max).find(|&tau| cmnd[tau] < THRESHOLD) {
            Some(tau) => tau,
            None => (self.tau_min..=tau_max)
                .min_by(|&a, &b| cmnd[a].total_cmp(&cmnd[b]))
                .unwrap_or(self.tau_min),
        };
        while tau < tau_max && cmnd[tau + 1] < cmnd[tau] {
            tau += 1;
        }
        let (before, at, after) = (cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]);
        let curvature = before - 2.0 * at + after;
        let offset = if curvature > 0.0 {
            (0.5 * (before - after) / curvature).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        Some(Pitch {
            hz: self.sample_rate / (tau as f32 + offset),
            aperiodicity: at.clamp(0.0, 1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_period_of_a_pulse_train_and_rejects_noise() {
        let sample_rate = 48_000.0;
        let mut yin = Yin::new(sample_rate);
        // 100 Hz: a pulse every 480 samples, smoothed a little.
        let pulses: Vec<f32> = (0..yin.frame_len())
            .map(|n| {
                let phase = (n % 480) as f32;
                (-phase / 20.0).exp()
            })
            .collect();
        let f0 = yin.estimate(&pulses).expect("a pulse train is voiced");
        assert!((f0 - 100.0).abs() < 0.5, "f0 {f0}");

        let mut state = 0x1234_5678u32;
        let noise: Vec<f32> = (0..yin.frame_len())
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as f32 / u32::MAX as f32 - 0.5
            })
            .collect();
        assert_eq!(yin.estimate(&noise), None);
        assert_eq!(yin.estimate(&noise[..10]), None, "too short");
        assert_eq!(yin.estimate(&vec![0.0; yin.frame_len()]), None, "silence");
        let noisy = yin.analyse(&noise).expect("noise has a best candidate");
        assert!(noisy.aperiodicity > 0.5, "{noisy:?}");
    }

    #[test]
    fn a_narrow_range_finds_a_sine_to_a_cent_with_high_confidence() {
        let sample_rate = 48_000.0;
        let mut yin = Yin::with_range(sample_rate, 50.0, 2000.0);
        assert_eq!(yin.frame_len(), 960 + 960 + 1);
        for hz in [55.0f32, 196.0, 440.0, 1318.5] {
            let sine: Vec<f32> = (0..yin.frame_len())
                .map(|n| (std::f32::consts::TAU * hz * n as f32 / sample_rate).sin() * 0.3)
                .collect();
            let pitch = yin.analyse(&sine).unwrap();
            let cents = 1200.0 * (pitch.hz / hz).log2();
            assert!(cents.abs() < 1.0, "{hz} Hz: {cents} cents");
            assert!(pitch.aperiodicity < 0.01, "{hz} Hz: {pitch:?}");
        }
    }
}
