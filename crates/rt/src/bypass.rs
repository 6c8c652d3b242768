//! The host's bypass, as the engine plays it: an instrument's dry signal is silence, so
//! bypassing fades the output out, and un-bypassing fades it back in, with the same
//! equal-power (sine) shape and length as a patch swap. Once fully bypassed the engine stops
//! rendering voices (the host's bypass is also how a producer saves CPU); notes keep being
//! tracked, so keys held across a bypass are still held after it.

/// How long a bypass fade lasts.
pub const BYPASS_FADE_SECONDS: f32 = 0.03;

/// Where the bypass stands: `level` 1 plays, 0 is silent; it moves towards the target by
/// `step` per sample.
#[derive(Debug, Clone, Copy)]
pub struct BypassFade {
    bypassed: bool,
    level: f32,
    step: f32,
}

impl BypassFade {
    pub fn new(sample_rate: f32) -> Self {
        BypassFade {
            bypassed: false,
            level: 1.0,
            step: 1.0 / (BYPASS_FADE_SECONDS * sample_rate).max(1.0),
        }
    }

    /// The host's bypass switch; the fade starts at the next sample rendered.
    pub fn set(&mut self, bypassed: bool) {
        self.bypassed = bypassed;
    }

    pub fn is_bypassed(&self) -> bool {
        self.bypassed
    }

    /// Fully bypassed: the output is silence and nothing needs rendering.
    pub fn is_silent(&self) -> bool {
        self.bypassed && self.level == 0.0
    }

    /// Jumps to the target without a fade (a host reset).
    pub fn settle(&mut self) {
        self.level = if self.bypassed { 0.0 } else { 1.0 };
    }

    /// Applies the fade to a rendered chunk. Bit-transparent while playing and not fading.
    pub fn apply(&mut self, left: &mut [f32], right: &mut [f32]) {
        let target = if self.bypassed { 0.0 } else { 1.0 };
        if self.level == target {
            if self.bypassed {
                left.fill(0.0);
                right.fill(0.0);
            }
            return;
        }
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.level = if self.bypassed {
                (self.level - self.step).max(0.0)
            } else {
                (self.level + self.step).min(1.0)
            };
            let gain = (self.level * std::f32::consts::FRAC_PI_2).sin();
            *l *= gain;
            *r *= gain;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 48_000.0;

    fn ones(n: usize) -> (Vec<f32>, Vec<f32>) {
        (vec![1.0; n], vec![1.0; n])
    }

    #[test]
    fn playing_is_bit_transparent() {
        let mut fade = BypassFade::new(SR);
        let (mut l, mut r) = ones(64);
        fade.apply(&mut l, &mut r);
        assert!(l.iter().chain(&r).all(|&s| s == 1.0));
        assert!(!fade.is_silent());
    }

    #[test]
    fn bypass_fades_out_in_30_ms_smoothly_and_back_in() {
        let mut fade = BypassFade::new(SR);
        fade.set(true);
        let n = (BYPASS_FADE_SECONDS * SR) as usize;
        let (mut l, mut r) = ones(n + 64);
        fade.apply(&mut l, &mut r);
        assert!(
            l[0] > 0.99 && l[0] < 1.0,
            "the fade starts at once: {}",
            l[0]
        );
        assert!(l.windows(2).all(|w| w[1] <= w[0]), "falls monotonically");
        // The steepest step of a sine fade of n samples is π/(2n).
        let steepest = l.windows(2).map(|w| w[0] - w[1]).fold(0.0, f32::max);
        assert!(
            steepest <= std::f32::consts::FRAC_PI_2 / n as f32 * 1.01,
            "{steepest}"
        );
        assert!(l[n..].iter().chain(&r[n..]).all(|&s| s == 0.0));
        assert!(fade.is_silent());

        let (mut l, mut r) = ones(64);
        fade.apply(&mut l, &mut r);
        assert!(l.iter().chain(&r).all(|&s| s == 0.0), "stays silent");

        fade.set(false);
        assert!(!fade.is_silent());
        let (mut l, mut r) = ones(n + 64);
        fade.apply(&mut l, &mut r);
        assert!(l[0] > 0.0 && l[0] < 0.01, "{}", l[0]);
        assert!(l.windows(2).all(|w| w[1] >= w[0]), "rises monotonically");
        assert!(l[n..].iter().all(|&s| s == 1.0), "back to bit-transparent");
        assert_eq!(l, r);
    }

    #[test]
    fn settle_jumps_to_the_target() {
        let mut fade = BypassFade::new(SR);
        fade.set(true);
        fade.settle();
        assert!(fade.is_silent());
        fade.set(false);
        fade.settle();
        let (mut l, mut r) = ones(8);
        fade.apply(&mut l, &mut r);
        assert!(l.iter().all(|&s| s == 1.0));
    }
}
