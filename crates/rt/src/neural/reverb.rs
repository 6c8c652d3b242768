//! The learned-impulse reverb of a model's synthesis graph (docs/NEURAL.md §10): the IR the
//! sidecar stores at the model's rate, made for the plugin's rate ([`resample_ir`]), and a
//! convolution with it that runs on the audio thread ([`Convolver`]).
//!
//! A learned room is 1.5 s long: 72,000 taps at 48 kHz, far too many to convolve sample by
//! sample. The convolver splits the IR into a short head convolved directly (no delay) and
//! two uniformly partitioned tails convolved by FFT (overlap-save with a frequency-domain
//! delay line), each tail starting at an offset equal to its block length, so the block it
//! waits for is never heard late: the output is the exact convolution, sample for sample,
//! with no added latency. Everything is planned and allocated in [`Convolver::new`];
//! [`Convolver::process`] allocates nothing.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Taps convolved directly, and the block length of the first partitioned tail.
const HEAD: usize = 64;

/// The block length of the second, longer-partitioned tail: IRs longer than this many taps
/// put their body there, where a 2,048-point FFT per block serves 1,024 taps per partition.
const LONG_BLOCK: usize = 1024;

/// The IR `ir` (at `from_rate` Hz) made for a convolution at `to_rate` Hz with the same gain
/// at every frequency (the Python side's `resample_impulse_response`): `X = rfft(ir)`, its
/// Nyquist bin halved when `L` is even (it stands for both signs of its frequency),
/// zero-padded to `L'/2 + 1` bins and inverse-transformed at `L' = round(L·to/from)` with
/// the usual `1/L'`. Off the audio thread (it allocates). Errors when `to_rate` is below
/// `from_rate`: a room learned at 16 kHz cannot be played at a lower rate.
pub fn resample_ir(ir: &[f32], from_rate: f64, to_rate: f64) -> Result<Vec<f32>, String> {
    if to_rate < from_rate {
        return Err(format!(
            "a reverb learned at {from_rate} Hz cannot play at {to_rate} Hz (use a sample \
             rate of at least {from_rate} Hz)"
        ));
    }
    let length = ir.len();
    if to_rate == from_rate || length == 0 {
        return Ok(ir.to_vec());
    }
    let new_length = (length as f64 * to_rate / from_rate).round() as usize;
    let mut planner = FftPlanner::<f64>::new();
    let mut spectrum: Vec<Complex<f64>> = ir
        .iter()
        .map(|&x| Complex::new(f64::from(x), 0.0))
        .collect();
    planner.plan_fft_forward(length).process(&mut spectrum);
    let bins = length / 2 + 1;
    if length.is_multiple_of(2) {
        spectrum[length / 2] *= 0.5;
    }
    // The Hermitian spectrum of length L' whose first L'/2 + 1 bins are X zero-padded; as
    // in irfft, bin 0 (and bin L'/2 when L' is even) count only by their real parts.
    let mut full = vec![Complex::new(0.0, 0.0); new_length];
    let half = new_length / 2;
    for k in 0..bins.min(half + 1) {
        let mut value = spectrum[k];
        if k == 0 || (new_length.is_multiple_of(2) && k == half) {
            value.im = 0.0;
        }
        full[k] = value;
        if k != 0 && new_length - k != k {
            full[new_length - k] = value.conj();
        }
    }
    planner.plan_fft_inverse(new_length).process(&mut full);
    let scale = 1.0 / new_length as f64;
    Ok(full.iter().map(|c| (c.re * scale) as f32).collect())
}

/// One uniformly partitioned tail: the IR's taps `[block, block + block·parts)`, convolved
/// in blocks of `block` samples by overlap-save with `2·block`-point FFTs.
struct Tail {
    block: usize,
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
    /// The spectra of the IR's partitions, one `2·block`-point FFT each.
    partitions: Vec<Vec<Complex<f32>>>,
    /// The spectra of the last `parts` input blocks (a ring; `newest` is the latest).
    history: Vec<Vec<Complex<f32>>>,
    newest: usize,
    /// The previous block and the one filling, as the FFT reads them.
    input: Vec<f32>,
    /// Samples of the filling block so far.
    filled: usize,
    /// The tail's output for the samples since the last full block, and how many were read.
    ready: Vec<f32>,
    read: usize,
    accumulator: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl Tail {
    /// The tail of `ir` from tap `block` on, in partitions of `block` taps, up to `end`.
    fn new(ir: &[f32], block: usize, end: usize, planner: &mut FftPlanner<f32>) -> Tail {
        let size = 2 * block;
        let forward = planner.plan_fft_forward(size);
        let inverse = planner.plan_fft_inverse(size);
        let taps = &ir[block.min(ir.len())..end.min(ir.len())];
        let partitions: Vec<Vec<Complex<f32>>> = taps
            .chunks(block)
            .map(|chunk| {
                let mut spectrum = vec![Complex::new(0.0, 0.0); size];
                for (s, &x) in spectrum.iter_mut().zip(chunk) {
                    s.re = x;
                }
                forward.process(&mut spectrum);
                spectrum
            })
            .collect();
        let parts = partitions.len();
        let scratch_len = forward
            .get_inplace_scratch_len()
            .max(inverse.get_inplace_scratch_len());
        Tail {
            block,
            forward,
            inverse,
            partitions,
            history: vec![vec![Complex::new(0.0, 0.0); size]; parts],
            newest: 0,
            input: vec![0.0; size],
            filled: 0,
            ready: vec![0.0; block],
            read: 0,
            accumulator: vec![Complex::new(0.0, 0.0); size],
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
        }
    }

    fn reset(&mut self) {
        self.history
            .iter_mut()
            .for_each(|h| h.fill(Complex::new(0.0, 0.0)));
        self.input.fill(0.0);
        self.ready.fill(0.0);
        self.filled = 0;
        self.read = 0;
    }

    /// The tail's output for this sample, then takes the input sample; a full block is
    /// convolved at once, giving the next `block` output samples.
    #[inline]
    fn tick(&mut self, x: f32) -> f32 {
        let y = self.ready[self.read];
        self.read += 1;
        self.input[self.block + self.filled] = x;
        self.filled += 1;
        if self.filled == self.block {
            self.convolve_block();
        }
        y
    }

    fn convolve_block(&mut self) {
        let parts = self.partitions.len();
        self.newest = (self.newest + 1) % parts;
        let spectrum = &mut self.history[self.newest];
        for (s, &x) in spectrum.iter_mut().zip(&self.input) {
            *s = Complex::new(x, 0.0);
        }
        self.forward
            .process_with_scratch(spectrum, &mut self.scratch);
        self.accumulator.fill(Complex::new(0.0, 0.0));
        for (p, partition) in self.partitions.iter().enumerate() {
            let spectrum = &self.history[(self.newest + parts - p) % parts];
            for ((a, x), h) in self.accumulator.iter_mut().zip(spectrum).zip(partition) {
                *a += x * h;
            }
        }
        self.inverse
            .process_with_scratch(&mut self.accumulator, &mut self.scratch);
        // Overlap-save: the second half is the linear convolution of the newest block.
        let scale = 1.0 / (2 * self.block) as f32;
        for (r, a) in self.ready.iter_mut().zip(&self.accumulator[self.block..]) {
            *r = a.re * scale;
        }
        self.input.copy_within(self.block.., 0);
        self.filled = 0;
        self.read = 0;
    }
}

/// The exact linear convolution with an IR, for the audio thread (see the module notes).
pub struct Convolver {
    /// The first [`HEAD`] taps, reversed, convolved directly.
    head: Vec<f32>,
    /// The last [`HEAD`] input samples, written twice so a window of them is contiguous.
    recent: Vec<f32>,
    position: usize,
    tails: Vec<Tail>,
    length: usize,
}

impl Convolver {
    /// Plans the convolution with `ir` (at the rate it will run at). Allocates.
    pub fn new(ir: &[f32]) -> Convolver {
        let mut planner = FftPlanner::new();
        let mut head: Vec<f32> = ir.iter().take(HEAD).copied().collect();
        head.resize(HEAD, 0.0);
        head.reverse();
        let mut tails = Vec::new();
        if ir.len() > HEAD {
            tails.push(Tail::new(ir, HEAD, LONG_BLOCK, &mut planner));
        }
        if ir.len() > LONG_BLOCK {
            tails.push(Tail::new(ir, LONG_BLOCK, ir.len(), &mut planner));
        }
        Convolver {
            head,
            recent: vec![0.0; 2 * HEAD],
            position: 0,
            tails,
            length: ir.len(),
        }
    }

    /// The IR's length in taps.
    pub fn len(&self) -> usize {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Forgets the input so far (the room falls silent at once).
    pub fn reset(&mut self) {
        self.recent.fill(0.0);
        self.position = 0;
        self.tails.iter_mut().for_each(Tail::reset);
    }

    /// Writes `ir ∗ input` into `out` (same length), continuing from the last call.
    /// Allocation-free.
    pub fn process(&mut self, input: &[f32], out: &mut [f32]) {
        for (&x, y) in input.iter().zip(out.iter_mut()) {
            self.recent[self.position] = x;
            self.recent[self.position + HEAD] = x;
            self.position = (self.position + 1) % HEAD;
            // recent[position .. position + HEAD] is the last HEAD inputs, oldest first.
            let window = &self.recent[self.position..self.position + HEAD];
            let mut sum = 0.0f32;
            for (h, s) in self.head.iter().zip(window) {
                sum += h * s;
            }
            for tail in &mut self.tails {
                sum += tail.tick(x);
            }
            *y = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(ir: &[f32], x: &[f32]) -> Vec<f64> {
        (0..x.len())
            .map(|n| {
                (0..ir.len().min(n + 1))
                    .map(|m| f64::from(ir[m]) * f64::from(x[n - m]))
                    .sum()
            })
            .collect()
    }

    fn noise(len: usize, mut state: u32) -> Vec<f32> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as f32 / u32::MAX as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn the_partitioned_convolution_is_the_direct_one_in_any_block_sizes() {
        for length in [1, 50, 64, 65, 700, 1024, 3000] {
            let ir = noise(length, 7 + length as u32);
            let x = noise(5000, 99);
            let expected = direct(&ir, &x);
            let mut convolver = Convolver::new(&ir);
            let mut out = vec![0.0; x.len()];
            let mut start = 0;
            for (i, size) in [1usize, 333, 64, 1000, 7].iter().cycle().enumerate() {
                if start >= x.len() || i > 1000 {
                    break;
                }
                let end = (start + size).min(x.len());
                convolver.process(&x[start..end], &mut out[start..end]);
                start = end;
            }
            let worst = out
                .iter()
                .zip(&expected)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-4, "IR of {length}: largest difference {worst}");
        }
    }

    #[test]
    fn resampling_keeps_the_gain_at_every_frequency() {
        let ir = noise(400, 3);
        let up = resample_ir(&ir, 16_000.0, 48_000.0).unwrap();
        assert_eq!(up.len(), 1200);
        // rfft(ir')[k] = rfft(ir)[k] for k < L/2 (the spectra share their bins at 40 Hz).
        let spectrum = |x: &[f32], k: usize| -> Complex<f64> {
            x.iter()
                .enumerate()
                .map(|(n, &v)| {
                    let angle = -std::f64::consts::TAU * (k * n) as f64 / x.len() as f64;
                    Complex::from_polar(f64::from(v), angle)
                })
                .sum()
        };
        for k in [0, 1, 17, 120, 199] {
            let (a, b) = (spectrum(&ir, k), spectrum(&up, k));
            assert!((a - b).norm() < 1e-4, "bin {k}: {a} vs {b}");
        }
        assert_eq!(resample_ir(&ir, 16_000.0, 16_000.0).unwrap(), ir);
        assert!(resample_ir(&ir, 16_000.0, 8_000.0).is_err());
    }
}
