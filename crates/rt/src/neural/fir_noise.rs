//! The `filtered_noise` processor as the training synth computes it
//! (`onnx/ddsp/synth.py: filtered_noise`), sample for sample at the model's rate:
//!
//! * white noise, uniform in [-1, 1], in blocks of one frame (block `b` covers samples
//!   `[b*hop, (b+1)*hop)` and is filtered by frame `b`'s magnitudes);
//! * each frame's filter is the inverse real DFT of its band magnitudes (zero phase,
//!   `N` points), rotated by `N/2` and multiplied by an `N`-point symmetric Hann window:
//!   a linear-phase `N`-tap FIR;
//! * the filtered blocks overlap-add, and the FIR's `N/2`-sample delay is removed.
//!
//! At the model's rate (16 kHz, 65 bands up to 8 kHz) `N` is 128 and `hop` 320, and the
//! result is PyTorch's within float32 rounding (the parity test). At another rate `sr` the
//! same design keeps its 125 Hz bin spacing, `N = round(sr / 125)`, with each bin's magnitude
//! read from the bands at its frequency (linear between band centres, zero above the model's
//! Nyquist), and the white noise is scaled by `sqrt(sr / model rate)`, so the power per Hz the
//! model learned is unchanged; a frame lasts the model's 20 ms.
//!
//! Streaming with no latency and an even load: each output sample is the FIR's dot product
//! with the white noise before it (two, in a block's first `N - 1` samples, whose taps still
//! reach into the previous block and use its filter), so the cost is `N` multiply-adds a
//! sample, every sample. The removed delay looks `N/2` samples ahead, so a block's filter is
//! needed `N/2` samples before the block starts: [`FirNoise::due`] says how far ahead of the
//! current sample the bands must be read. Everything is allocated in [`FirNoise::new`];
//! rendering allocates nothing.

use std::f64::consts::TAU;

use super::NOISE_BANDS;

/// A frame of the model lasts 20 ms (320 samples at 16 kHz).
const FRAME_SECONDS: f64 = 0.02;

/// One voice's filtered noise.
pub struct FirNoise {
    /// FIR length `N` and the removed delay `N / 2`.
    taps: usize,
    delay: usize,
    /// Samples per block (one frame).
    hop: usize,
    /// Scales the white noise to the model's power per Hz.
    white_gain: f32,
    /// For each DFT bin `0..=N/2`: the band below it and the fraction towards the next, or
    /// `None` above the model's Nyquist.
    bins: Vec<Option<(usize, f64)>>,
    /// `cos(2π j / N)` for `j` in `0..N`.
    cosines: Vec<f64>,
    /// The `N`-point symmetric Hann window.
    window: Vec<f64>,
    magnitudes: Vec<f64>,
    /// The zero-phase impulse response `x[0..=N/2]` (the rest mirrors it).
    impulse: Vec<f64>,
    filter: Vec<f32>,
    /// The filters of the current block and of the one before, reversed (tap `N - 1` first)
    /// so that a sample is a forward dot product, and whether each is silent (all 0).
    current: Vec<f32>,
    previous: Vec<f32>,
    current_silent: bool,
    previous_silent: bool,
    /// White noise (scaled) of the previous block and then the current one.
    white: Vec<f32>,
    /// Where in the current block the next filtered sample (before the delay is removed) is;
    /// `None` before the first block.
    position: Option<usize>,
    rng: u64,
    seed: u64,
}

impl FirNoise {
    /// Silent filtered noise at `sample_rate` for a model whose bands reach up to
    /// `model_nyquist_hz`; `seed` picks its white noise.
    pub fn new(sample_rate: f32, model_nyquist_hz: f32, seed: u64) -> Self {
        let sr = f64::from(sample_rate);
        let spacing = f64::from(model_nyquist_hz) / (NOISE_BANDS - 1) as f64;
        let taps = ((sr / spacing).round() as usize).max(4);
        // A block at least as long as the filter: a tap reaches back one block at most.
        let hop = ((sr * FRAME_SECONDS).round() as usize).max(taps);
        let bins = (0..=taps / 2)
            .map(|k| {
                let position = k as f64 * sr / taps as f64 / spacing;
                if position > (NOISE_BANDS - 1) as f64 + 1e-9 {
                    None
                } else {
                    let below = (position as usize).min(NOISE_BANDS - 2);
                    Some((below, (position - below as f64).min(1.0)))
                }
            })
            .collect();
        let cosines = (0..taps)
            .map(|j| (TAU * j as f64 / taps as f64).cos())
            .collect();
        let window = (0..taps)
            .map(|n| 0.5 - 0.5 * (TAU * n as f64 / (taps - 1) as f64).cos())
            .collect();
        let model_rate = 2.0 * f64::from(model_nyquist_hz);
        let seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let delay = taps / 2;
        FirNoise {
            taps,
            delay,
            hop,
            white_gain: (sr / model_rate).sqrt() as f32,
            bins,
            cosines,
            window,
            magnitudes: vec![0.0; taps / 2 + 1],
            impulse: vec![0.0; taps / 2 + 1],
            filter: vec![0.0; taps],
            current: vec![0.0; taps],
            previous: vec![0.0; taps],
            current_silent: true,
            previous_silent: true,
            white: vec![0.0; 2 * hop],
            position: None,
            rng: seed,
            seed,
        }
    }

    /// Silence, and the white noise starts again from the seed.
    pub fn reset(&mut self) {
        self.current_silent = true;
        self.previous_silent = true;
        self.white.fill(0.0);
        self.position = None;
        self.rng = self.seed;
    }

    /// Samples per block (one model frame at this rate).
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// The FIR's length at this rate.
    pub fn taps(&self) -> usize {
        self.taps
    }

    /// When the next block must start before the next sample: how many samples after the
    /// current one that block begins (its bands are the controls of that instant).
    pub fn due(&self) -> Option<usize> {
        match self.position {
            None => Some(0),
            Some(p) if p >= self.hop => Some(self.delay),
            Some(_) => None,
        }
    }

    /// Starts the next block with `bands`, filtering this voice's own white noise.
    pub fn start_block(&mut self, bands: &[f32; NOISE_BANDS]) {
        let hop = self.hop;
        self.white.copy_within(hop.., 0);
        for w in self.white[hop..].iter_mut() {
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let bits = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            *w = (2.0 * (bits as f32 / (1u64 << 24) as f32) - 1.0) * self.white_gain;
        }
        self.begin_block(bands);
    }

    /// Starts the next block with `bands`, filtering the given white noise (`hop` samples;
    /// missing ones are 0): how a test feeds PyTorch's noise.
    pub fn start_block_with(&mut self, bands: &[f32; NOISE_BANDS], white: &[f32]) {
        let hop = self.hop;
        self.white.copy_within(hop.., 0);
        self.white[hop..].fill(0.0);
        for (w, x) in self.white[hop..].iter_mut().zip(white) {
            *w = x * self.white_gain;
        }
        self.begin_block(bands);
    }

    /// The next sample. Call [`FirNoise::due`] first: a due block must have been started.
    pub fn next_sample(&mut self) -> f32 {
        let Some(i) = self.position else {
            return 0.0;
        };
        self.position = Some(i + 1);
        let n = self.taps;
        // Filtered sample i of the block: Σ_m f[m] x[i - m], x indexed from the previous
        // block's start; reversed filters make it Σ_m' g[m'] white[p + m'].
        let p = self.hop + i + 1 - n;
        let split = (n - 1).saturating_sub(i);
        let mut y = 0.0;
        if !self.previous_silent && split > 0 {
            y += dot(&self.previous[..split], &self.white[p..p + split]);
        }
        if !self.current_silent {
            y += dot(&self.current[split..], &self.white[p + split..p + n]);
        }
        y
    }

    /// The current filter becomes the previous one and the block's filter the current one.
    fn begin_block(&mut self, bands: &[f32; NOISE_BANDS]) {
        std::mem::swap(&mut self.current, &mut self.previous);
        self.previous_silent = self.current_silent;
        self.current_silent = bands.iter().all(|&b| b <= 0.0);
        if !self.current_silent {
            self.design(bands);
            for (r, f) in self.current.iter_mut().rev().zip(&self.filter) {
                *r = *f;
            }
        }
        // The first block's filtered samples before its delay are never played.
        self.position = Some(match self.position {
            None => self.delay,
            Some(_) => 0,
        });
    }

    /// The FIR for `bands` (see the module's notes): `N` taps, the block's filter.
    pub fn design(&mut self, bands: &[f32; NOISE_BANDS]) -> &[f32] {
        let n = self.taps;
        for (m, bin) in self.magnitudes.iter_mut().zip(&self.bins) {
            *m = match *bin {
                Some((band, fraction)) => {
                    let (a, b) = (f64::from(bands[band]), f64::from(bands[band + 1]));
                    a + (b - a) * fraction
                }
                None => 0.0,
            };
        }
        // The inverse real DFT of a real spectrum: x[j] = (X_0 + 2 Σ X_k cos(2πkj/N)
        // + X_(N/2) cos(πj) for even N) / N, over the bins below the model's Nyquist (the
        // rest are 0). x is even (x[j] = x[N - j]), so half of it is computed.
        let audible = self.bins.iter().take_while(|b| b.is_some()).count();
        let even = n.is_multiple_of(2);
        let last = if even { n / 2 - 1 } else { n / 2 };
        let top = last.min(audible.saturating_sub(1));
        let nyquist = if even && audible > n / 2 {
            self.magnitudes[n / 2]
        } else {
            0.0
        };
        for j in 0..=n / 2 {
            let mut x = self.magnitudes[0];
            // cos(2πkj/N) = cosines[kj mod N], the index stepped by j without a division.
            let mut index = 0;
            for k in 1..=top {
                index += j;
                if index >= n {
                    index -= n;
                }
                x += 2.0 * self.magnitudes[k] * self.cosines[index];
            }
            if j.is_multiple_of(2) {
                x += nyquist;
            } else {
                x -= nyquist;
            }
            self.impulse[j] = x / n as f64;
        }
        for (i, tap) in self.filter.iter_mut().enumerate() {
            // Rotated by N/2: tap i holds x[(i - N/2) mod N].
            let j = (i + n - n / 2) % n;
            *tap = (self.impulse[j.min(n - j)] * self.window[i]) as f32;
        }
        &self.filter
    }
}

/// `Σ a[i] b[i]` in eight running sums (which the compiler turns into vector arithmetic).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut sums = [0.0f32; 8];
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            sums[k] += x[k] * y[k];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// Filters `white` by `frames` of band magnitudes as the training synth does (frame `b` for
/// block `b`; no block after the last frame), `samples` long: the parity test's path, through
/// the same [`FirNoise`] the voices play.
pub fn filter_white_noise(
    frames: &[[f32; NOISE_BANDS]],
    white: &[f32],
    sample_rate: f32,
    model_nyquist_hz: f32,
    samples: usize,
) -> Vec<f32> {
    let mut noise = FirNoise::new(sample_rate, model_nyquist_hz, 1);
    let hop = noise.hop();
    let mut block = 0;
    (0..samples)
        .map(|_| {
            if noise.due().is_some() {
                let silent = [0.0; NOISE_BANDS];
                let bands = frames.get(block).unwrap_or(&silent);
                let from = (block * hop).min(white.len());
                noise.start_block_with(bands, &white[from..(from + hop).min(white.len())]);
                block += 1;
            }
            noise.next_sample()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fir_has_the_band_response_and_its_delay() {
        let mut noise = FirNoise::new(16_000.0, 8000.0, 1);
        assert_eq!((noise.taps(), noise.hop()), (128, 320));
        let mut bands = [0.0; NOISE_BANDS];
        for (k, b) in bands.iter_mut().enumerate() {
            *b = 1.0 + (k as f32 * 0.3).sin() * 0.5;
        }
        noise.design(&bands);
        // Linear phase around tap 64: the response at band k's centre has magnitude close to
        // the band's (the Hann window smooths it a little).
        for (k, band) in bands.iter().enumerate().take(60).skip(4) {
            let w = TAU * k as f64 / 128.0;
            let (re, im) = noise
                .filter
                .iter()
                .enumerate()
                .fold((0.0, 0.0), |(re, im), (n, h)| {
                    let a = w * (n as f64 - 64.0);
                    (re + f64::from(*h) * a.cos(), im - f64::from(*h) * a.sin())
                });
            let magnitude = (re * re + im * im).sqrt();
            assert!(
                (magnitude - f64::from(*band)).abs() < 0.12,
                "band {k}: {magnitude} vs {band}"
            );
        }
    }

    #[test]
    fn at_48_khz_the_bins_keep_their_spacing_and_the_level_its_density() {
        let noise = FirNoise::new(48_000.0, 8000.0, 1);
        assert_eq!((noise.taps(), noise.hop()), (384, 960));
        let at_44_1 = FirNoise::new(44_100.0, 8000.0, 1);
        assert_eq!((at_44_1.taps(), at_44_1.hop()), (353, 882));
        let frames = [[1.0; NOISE_BANDS]; 60];
        let mut white = FirNoise::new(48_000.0, 8000.0, 5);
        let out: Vec<f32> = {
            let mut v = vec![0.0; 60 * 960];
            for s in v.iter_mut() {
                if white.due().is_some() {
                    white.start_block(&frames[0]);
                }
                *s = white.next_sample();
            }
            v
        };
        // Flat magnitude 1 up to 8 kHz: the power of white noise of variance 1/3 at 16 kHz.
        let variance = out.iter().map(|s| s * s).sum::<f32>() / out.len() as f32;
        assert!((variance - 1.0 / 3.0).abs() < 0.03, "{variance}");
    }

    /// With `assert_process_allocs`, any allocation inside `assert_no_alloc` aborts.
    #[cfg(all(feature = "assert_process_allocs", debug_assertions))]
    #[test]
    fn playing_allocates_nothing() {
        let mut noise = FirNoise::new(44_100.0, 8000.0, 3);
        let mut sum = 0.0f32;
        nice_assert_no_alloc::assert_no_alloc(|| {
            for n in 0..10_000 {
                if noise.due().is_some() {
                    noise.start_block(&[0.1 * (n % 3) as f32; NOISE_BANDS]);
                }
                sum += noise.next_sample().abs();
            }
            noise.reset();
        });
        assert!(sum > 0.0);
    }
}
