//! The output safety stage: non-finite samples become silence, and a peak limiter with
//! instant attack keeps the stereo output under a fixed ceiling whatever a patch does.

/// Output never exceeds this absolute level (about -0.2 dBFS).
pub const CEILING: f32 = 0.98;

/// Peak limiter with zero attack (no overshoot, no look-ahead latency) and an exponential
/// release. Transparent (gain exactly 1) while the signal stays under the ceiling.
pub struct SafetyLimiter {
    /// Gain reduction, `1 - gain`. Decaying the reduction multiplicatively (rather than
    /// adding tiny steps to a gain near 1) lets it reach exactly zero in f32.
    reduction: f32,
    release_factor: f32,
}

impl SafetyLimiter {
    pub fn new(sample_rate: f32) -> Self {
        let release_seconds = 0.15;
        SafetyLimiter {
            reduction: 0.0,
            release_factor: (-1.0 / (release_seconds * sample_rate)).exp(),
        }
    }

    pub fn reset(&mut self) {
        self.reduction = 0.0;
    }

    /// Limits a stereo block in place.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let peak = l.abs().max(r.abs());
            let needed = if peak > CEILING {
                1.0 - CEILING / peak
            } else {
                0.0
            };
            self.reduction = needed.max(self.reduction * self.release_factor);
            if self.reduction < 1e-6 {
                self.reduction = 0.0;
            }
            let gain = 1.0 - self.reduction;
            *l *= gain;
            *r *= gain;
        }
    }
}

/// Replaces NaN and infinite samples with silence. Returns true when any were found.
pub fn silence_non_finite(left: &mut [f32], right: &mut [f32]) -> bool {
    let mut found = false;
    for s in left.iter_mut().chain(right.iter_mut()) {
        if !s.is_finite() {
            *s = 0.0;
            found = true;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_signal_passes_bit_exact() {
        let mut limiter = SafetyLimiter::new(48_000.0);
        let input: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
        let (mut l, mut r) = (input.clone(), input.clone());
        limiter.process(&mut l, &mut r);
        assert_eq!(l, input);
        assert_eq!(r, input);
    }

    #[test]
    fn loud_signal_never_exceeds_ceiling_and_recovers() {
        let mut limiter = SafetyLimiter::new(48_000.0);
        let mut l: Vec<f32> = (0..4800).map(|i| (i as f32 * 0.05).sin() * 8.0).collect();
        let mut r = l.clone();
        limiter.process(&mut l, &mut r);
        assert!(l.iter().chain(&r).all(|s| s.abs() <= CEILING + 1e-6));
        assert!(l.iter().any(|s| s.abs() > 0.9 * CEILING));
        let mut quiet_l = vec![0.1f32; 144_000];
        let mut quiet_r = quiet_l.clone();
        limiter.process(&mut quiet_l, &mut quiet_r);
        assert_eq!(*quiet_l.last().unwrap(), 0.1);
    }

    #[test]
    fn non_finite_samples_become_silence() {
        let mut l = vec![0.1, f32::NAN, 0.2];
        let mut r = vec![f32::INFINITY, 0.0, -0.3];
        assert!(silence_non_finite(&mut l, &mut r));
        assert_eq!(l, vec![0.1, 0.0, 0.2]);
        assert_eq!(r, vec![0.0, 0.0, -0.3]);
        assert!(!silence_non_finite(&mut l, &mut r));
    }
}
