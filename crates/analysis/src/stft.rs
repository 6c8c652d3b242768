//! Short-time Fourier transform: magnitude spectra of successive Hann-windowed frames. The
//! FFT plan, the window and every buffer are made once in [`Stft::new`], so analysing a frame
//! allocates nothing.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Magnitude spectra of a signal, frame by frame. Frame `i` starts at sample `i * hop`;
/// samples past the end of the signal read as zeros.
pub struct Stft {
    /// The forward FFT, planned once for `fft_size`.
    fft: Arc<dyn Fft<f32>>,
    /// Periodic Hann window divided by its sum, so a sine of amplitude A peaks at A/2 in the
    /// magnitudes whatever the FFT size (the multi-scale loss compares sizes with one epsilon).
    window: Vec<f32>,
    /// The frame being transformed, in place.
    buffer: Vec<Complex<f32>>,
    /// Scratch space the FFT asks for; kept so transforming does not allocate.
    scratch: Vec<Complex<f32>>,
    /// The last frame's magnitudes, `fft_size / 2 + 1` bins from 0 Hz to Nyquist.
    magnitudes: Vec<f32>,
    /// Samples between the starts of successive frames.
    hop: usize,
}

impl Stft {
    /// Plans an STFT of `fft_size`-sample frames every `hop` samples.
    ///
    /// # Panics
    /// If `fft_size` or `hop` is zero.
    pub fn new(fft_size: usize, hop: usize) -> Self {
        assert!(
            fft_size > 0 && hop > 0,
            "STFT needs fft_size > 0 and hop > 0"
        );
        let fft = FftPlanner::new().plan_fft_forward(fft_size);
        let hann: Vec<f32> = (0..fft_size)
            .map(|n| {
                let phase = std::f64::consts::TAU * n as f64 / fft_size as f64;
                (0.5 - 0.5 * phase.cos()) as f32
            })
            .collect();
        let sum: f32 = hann.iter().sum();
        // A one-sample Hann window is all zeros; leave it unscaled rather than divide by zero.
        let scale = if sum > 0.0 { 1.0 / sum } else { 1.0 };
        let window = hann.into_iter().map(|w| w * scale).collect();
        let scratch = vec![Complex::default(); fft.get_inplace_scratch_len()];
        Self {
            fft,
            window,
            buffer: vec![Complex::default(); fft_size],
            scratch,
            magnitudes: vec![0.0; fft_size / 2 + 1],
            hop,
        }
    }

    pub fn fft_size(&self) -> usize {
        self.window.len()
    }

    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Bins per spectrum: `fft_size / 2 + 1`, from 0 Hz to Nyquist.
    pub fn bins(&self) -> usize {
        self.magnitudes.len()
    }

    /// The spacing of the bins in Hz; bin `k` is centred on `k * bin_hz`.
    pub fn bin_hz(&self, sample_rate: f32) -> f32 {
        sample_rate / self.fft_size() as f32
    }

    /// Frames in a signal of `len` samples: every frame that starts inside it.
    pub fn frame_count(&self, len: usize) -> usize {
        len.div_ceil(self.hop)
    }

    /// The magnitude spectrum of frame `index` of `signal`. The slice lives until the next call.
    pub fn frame_magnitudes(&mut self, signal: &[f32], index: usize) -> &[f32] {
        let start = index.saturating_mul(self.hop);
        let frame = signal.get(start..).unwrap_or(&[]);
        for (n, (slot, w)) in self.buffer.iter_mut().zip(&self.window).enumerate() {
            let sample = frame.get(n).copied().unwrap_or(0.0);
            *slot = Complex::new(sample * w, 0.0);
        }
        self.fft
            .process_with_scratch(&mut self.buffer, &mut self.scratch);
        for (magnitude, bin) in self.magnitudes.iter_mut().zip(&self.buffer) {
            *magnitude = bin.norm();
        }
        &self.magnitudes
    }

    /// Calls `each(frame_index, magnitudes)` for every frame of `signal`, in order.
    pub fn magnitudes(&mut self, signal: &[f32], mut each: impl FnMut(usize, &[f32])) {
        for index in 0..self.frame_count(signal.len()) {
            each(index, self.frame_magnitudes(signal, index));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, amplitude: f32, sample_rate: f32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| amplitude * (std::f32::consts::TAU * hz * n as f32 / sample_rate).sin())
            .collect()
    }

    #[test]
    fn sine_peaks_in_its_bin_at_half_its_amplitude() {
        let sample_rate = 48_000.0;
        let mut stft = Stft::new(1024, 256);
        // Exactly on bin 32, so the peak is not spread over two bins.
        let hz = 32.0 * stft.bin_hz(sample_rate);
        let signal = sine(hz, 0.8, sample_rate, 4096);
        let mut frames = 0;
        stft.magnitudes(&signal, |index, magnitudes| {
            assert_eq!(magnitudes.len(), 513);
            let (peak_bin, &peak) = magnitudes
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            assert_eq!(peak_bin, 32, "frame {index}");
            // Frames running past the end are zero-padded and so quieter.
            if index * 256 + 1024 <= 4096 {
                assert!((peak - 0.4).abs() < 0.01, "frame {index}: peak {peak}");
            }
            frames += 1;
        });
        assert_eq!(frames, 16);
    }

    #[test]
    fn empty_and_silent_signals_give_defined_output() {
        let mut stft = Stft::new(64, 16);
        stft.magnitudes(&[], |_, _| panic!("an empty signal has no frames"));
        let beyond = stft.frame_magnitudes(&[], 3);
        assert!(beyond.iter().all(|&m| m == 0.0));
        stft.magnitudes(&[0.0; 100], |_, magnitudes| {
            assert!(magnitudes.iter().all(|&m| m == 0.0));
        });
        assert_eq!(stft.frame_count(100), 7);
    }
}
