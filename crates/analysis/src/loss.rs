//! Multi-scale spectral loss (Engel et al., "DDSP", 2020): how different two sounds are,
//! comparing magnitude spectrograms at several FFT sizes so both timing (short frames) and
//! pitch (long frames) count. The FFT plans and buffers are made once in
//! [`MultiScaleLoss::new`].

use super::stft::Stft;

/// The FFT sizes of the DDSP paper.
pub const DDSP_FFT_SIZES: [usize; 6] = [2048, 1024, 512, 256, 128, 64];
/// Added to magnitudes before the logarithm: about -94 dB re the peak of a full-scale sine
/// (magnitudes are normalised so a sine of amplitude A peaks at A/2; see [`Stft`]), so
/// inaudible differences in near-silent bins do not dominate the log term.
pub const LOG_EPSILON: f32 = 1e-5;

/// Compares two mono signals of the same sample rate.
pub struct MultiScaleLoss {
    /// One STFT per FFT size, hop a quarter of the size.
    scales: Vec<Stft>,
    /// The first signal's magnitudes of the current frame, kept while the second's are computed.
    magnitudes_a: Vec<f32>,
}

impl Default for MultiScaleLoss {
    fn default() -> Self {
        Self::new(&DDSP_FFT_SIZES)
    }
}

impl MultiScaleLoss {
    /// Plans one STFT per size in `fft_sizes` (each at least 4, so the hop is not zero).
    ///
    /// # Panics
    /// If a size is under 4.
    pub fn new(fft_sizes: &[usize]) -> Self {
        assert!(
            fft_sizes.iter().all(|&size| size >= 4),
            "multi-scale loss FFT sizes must be at least 4, got {fft_sizes:?}"
        );
        let scales: Vec<Stft> = fft_sizes
            .iter()
            .map(|&size| Stft::new(size, size / 4))
            .collect();
        let largest = scales.iter().map(Stft::bins).max().unwrap_or(0);
        Self {
            scales,
            magnitudes_a: vec![0.0; largest],
        }
    }

    /// The loss between `a` and `b`, compared over the shorter one's length: summed over the
    /// FFT sizes, `mean|A − B| / mean((A + B) / 2) + mean|ln(A + ε) − ln(B + ε)|`, means over
    /// every bin of every frame. Dividing the linear term by the mean magnitude of both makes
    /// it independent of level, symmetric, and finite when one signal is silent. 0 exactly
    /// when the spectrograms are equal (and for empty input).
    pub fn loss(&mut self, a: &[f32], b: &[f32]) -> f32 {
        let len = a.len().min(b.len());
        let (a, b) = (&a[..len], &b[..len]);
        let mut total = 0.0f64;
        for stft in &mut self.scales {
            let (mut difference, mut magnitude, mut log_difference) = (0.0f64, 0.0f64, 0.0f64);
            let frames = stft.frame_count(len);
            for index in 0..frames {
                let magnitudes_a = &mut self.magnitudes_a[..stft.bins()];
                magnitudes_a.copy_from_slice(stft.frame_magnitudes(a, index));
                for (&ma, &mb) in magnitudes_a.iter().zip(stft.frame_magnitudes(b, index)) {
                    difference += (ma - mb).abs() as f64;
                    magnitude += 0.5 * (ma + mb) as f64;
                    log_difference +=
                        ((ma + LOG_EPSILON).ln() - (mb + LOG_EPSILON).ln()).abs() as f64;
                }
            }
            let values = (frames * stft.bins()) as f64;
            if magnitude > 0.0 {
                total += difference / magnitude;
            }
            if values > 0.0 {
                total += log_difference / values;
            }
        }
        total as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f32 = 48_000.0;

    fn sine(hz: f32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| 0.5 * (std::f32::consts::TAU * hz * n as f32 / RATE).sin())
            .collect()
    }

    #[test]
    fn identical_signals_have_no_loss() {
        let mut loss = MultiScaleLoss::default();
        let a = sine(440.0, 12_000);
        assert_eq!(loss.loss(&a, &a), 0.0);
        assert_eq!(
            loss.loss(&a, &a[..6000]),
            0.0,
            "compared over the shorter one"
        );
    }

    #[test]
    fn loss_grows_with_detuning() {
        let mut loss = MultiScaleLoss::default();
        let reference = sine(440.0, 12_000);
        let mut previous = 0.0;
        for cents in [3.0, 10.0, 30.0, 100.0, 300.0, 1200.0] {
            let detuned = sine(440.0 * 2f32.powf(cents / 1200.0), 12_000);
            let value = loss.loss(&reference, &detuned);
            assert!(value > previous, "{cents} cents: {value} <= {previous}");
            assert!(
                (value - loss.loss(&detuned, &reference)).abs() < 1e-4 * value,
                "symmetric"
            );
            previous = value;
        }
    }

    #[test]
    fn empty_and_silent_input_give_defined_values() {
        let mut loss = MultiScaleLoss::new(&[256, 64]);
        assert_eq!(loss.loss(&[], &[]), 0.0);
        assert_eq!(loss.loss(&[], &sine(440.0, 100)), 0.0);
        assert_eq!(loss.loss(&[0.0; 500], &[0.0; 500]), 0.0);
        let against_silence = loss.loss(&[0.0; 500], &sine(440.0, 500));
        assert!(against_silence.is_finite() && against_silence > 0.0);
        let short = loss.loss(&[0.1, 0.2], &[0.2, 0.1]);
        assert!(short.is_finite());
    }
}
