//! The level a patch is designed to: the loudest momentary loudness of a render, after
//! ITU-R BS.1770. The signal is K-weighted (a +4 dB high shelf above about 1.7 kHz, then a
//! high-pass near 38 Hz, which is how the ear weighs loudness), squared, averaged over
//! 400 ms windows every 100 ms, and the loudest window is reported as
//! `−0.691 + 10·log10(mean square)`, in LUFS for one channel. A full-scale 1 kHz sine reads
//! about −3 LUFS.
//!
//! Why the loudest window and not the integrated loudness over the note: a hit (a kick, a
//! pluck) is loud for a tenth of a second and then silent; averaged over a held second it
//! would read 15 dB quieter than it sounds, and levelling it to a pad's figure would drive
//! its peak into the limiter. The loudest 400 ms is how loud a note sounds when it sounds.

use crate::features::FLOOR_DB;

/// Length of a momentary-loudness window, seconds (BS.1770).
pub const WINDOW_SECONDS: f64 = 0.4;
/// Step between windows, seconds (BS.1770: 75 % overlap).
pub const HOP_SECONDS: f64 = 0.1;
/// The constant of BS.1770's loudness formula, dB.
const LOUDNESS_OFFSET_DB: f64 = -0.691;

/// One second-order section, direct form I.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Biquad {
    pub b: [f64; 3],
    /// `a[0]` is 1.
    pub a: [f64; 3],
}

impl Biquad {
    /// Runs the section over `signal` in place.
    fn filter(&self, signal: &mut [f64]) {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        for s in signal {
            let x = *s;
            let y =
                self.b[0] * x + self.b[1] * x1 + self.b[2] * x2 - self.a[1] * y1 - self.a[2] * y2;
            (x2, x1, y2, y1) = (x1, x, y1, y);
            *s = y;
        }
    }
}

/// The two stages of the K-weighting filter at `sample_rate`: the high shelf, then the
/// high-pass. Both are the bilinear transforms of BS.1770's analogue prototypes (shelf:
/// 1681.97 Hz, +4.00 dB, Q 0.7072; high-pass: 38.14 Hz, Q 0.5003), which at 48 kHz give the
/// coefficients the recommendation tabulates.
pub fn k_weighting(sample_rate: f64) -> [Biquad; 2] {
    let shelf = {
        let (f0, gain_db, q) = (
            1_681.974_450_955_533,
            3.999_843_853_973_347,
            0.707_175_236_955_419_6,
        );
        let k = (std::f64::consts::PI * f0 / sample_rate).tan();
        let vh = 10f64.powf(gain_db / 20.0);
        let vb = vh.powf(0.499_666_774_154_541_6);
        let a0 = 1.0 + k / q + k * k;
        Biquad {
            b: [
                (vh + vb * k / q + k * k) / a0,
                2.0 * (k * k - vh) / a0,
                (vh - vb * k / q + k * k) / a0,
            ],
            a: [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        }
    };
    let high_pass = {
        let (f0, q) = (38.135_470_876_024_44, 0.500_327_037_323_877_3);
        let k = (std::f64::consts::PI * f0 / sample_rate).tan();
        let a0 = 1.0 + k / q + k * k;
        Biquad {
            b: [1.0, -2.0, 1.0],
            a: [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        }
    };
    [shelf, high_pass]
}

/// The loudest momentary loudness of mono `audio`, LUFS; [`FLOOR_DB`] for silence. Audio
/// shorter than one window is measured as one window (padded with silence), so a click
/// still has a level.
pub fn momentary_max_lufs(audio: &[f32], sample_rate: f32) -> f32 {
    if audio.is_empty() || sample_rate.is_nan() || sample_rate <= 0.0 {
        return FLOOR_DB;
    }
    let rate = sample_rate as f64;
    let mut weighted: Vec<f64> = audio.iter().map(|&x| x as f64).collect();
    for stage in k_weighting(rate) {
        stage.filter(&mut weighted);
    }
    let window = ((WINDOW_SECONDS * rate).round() as usize).max(1);
    let hop = ((HOP_SECONDS * rate).round() as usize).max(1);
    // Prefix sums of the squares: every window's energy in constant time.
    let mut energy = Vec::with_capacity(weighted.len() + 1);
    energy.push(0.0f64);
    for x in &weighted {
        energy.push(energy.last().copied().unwrap_or(0.0) + x * x);
    }
    let len = weighted.len();
    let mut loudest = 0.0f64;
    let mut start = 0;
    loop {
        let end = (start + window).min(len);
        loudest = loudest.max((energy[end] - energy[start]) / window as f64);
        if start + window >= len {
            break;
        }
        start += hop;
    }
    if loudest > 0.0 {
        ((LOUDNESS_OFFSET_DB + 10.0 * loudest.log10()) as f32).max(FLOOR_DB)
    } else {
        FLOOR_DB
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f32 = 48_000.0;

    fn sine(hz: f32, amplitude: f32, seconds: f32) -> Vec<f32> {
        (0..(seconds * RATE) as usize)
            .map(|i| amplitude * (std::f32::consts::TAU * hz * i as f32 / RATE).sin())
            .collect()
    }

    #[test]
    fn the_filters_at_48_khz_are_the_recommendations_coefficients() {
        let [shelf, high_pass] = k_weighting(48_000.0);
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(
            shelf.b,
            [
                1.535_124_859_586_97,
                -2.691_696_189_406_38,
                1.198_392_810_852_85
            ]
        ));
        assert!(close(
            shelf.a,
            [1.0, -1.690_659_293_182_41, 0.732_480_774_215_85]
        ));
        assert!(close(high_pass.b, [1.0, -2.0, 1.0]));
        assert!(close(
            high_pass.a,
            [1.0, -1.990_047_454_833_98, 0.990_072_250_366_21]
        ));
    }

    #[test]
    fn a_full_scale_1_khz_sine_reads_about_minus_3_lufs() {
        let lufs = momentary_max_lufs(&sine(997.0, 1.0, 1.0), RATE);
        assert!((lufs + 3.01).abs() < 0.1, "{lufs}");
        // Level follows amplitude: 20 dB down reads 20 dB less.
        let quieter = momentary_max_lufs(&sine(997.0, 0.1, 1.0), RATE);
        assert!((lufs - quieter - 20.0).abs() < 0.01, "{lufs} {quieter}");
    }

    #[test]
    fn low_bass_counts_less_and_a_short_hit_counts_at_its_loudest() {
        let bass = momentary_max_lufs(&sine(30.0, 1.0, 1.0), RATE);
        let mid = momentary_max_lufs(&sine(500.0, 1.0, 1.0), RATE);
        assert!(bass < mid - 1.0, "{bass} {mid}");
        // A 100 ms burst in 2 s of silence: one 400 ms window holds all of it.
        let mut hit = sine(500.0, 1.0, 0.1);
        hit.resize(2 * RATE as usize, 0.0);
        let burst = momentary_max_lufs(&hit, RATE);
        assert!(
            (mid - burst - 10.0 * 4f32.log10()).abs() < 0.3,
            "{mid} {burst}"
        );
    }

    #[test]
    fn silence_and_empty_audio_read_the_floor() {
        assert_eq!(momentary_max_lufs(&[], RATE), FLOOR_DB);
        assert_eq!(momentary_max_lufs(&[0.0; 100], RATE), FLOOR_DB);
        assert_eq!(momentary_max_lufs(&[0.5; 100], 0.0), FLOOR_DB);
    }
}
