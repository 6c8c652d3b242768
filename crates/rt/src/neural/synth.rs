//! The harmonic-plus-noise synthesiser of one neural voice, for the audio thread: it glides
//! linearly from the controls it is at to each new frame it is given, and holds the last one
//! when no new frame comes. Everything is allocated in [`NeuralSynth::new`]; rendering
//! allocates nothing.
//!
//! Harmonic part, exactly as the contract says (the parity test compares it with PyTorch):
//! at sample `n` the controls are interpolated, harmonics `k` with `k * f0[n] >= sr / 2` get
//! weight 0 and the rest are renormalised to sum 1, the phase advances by
//! `2π f0[n] / sr` (in f64, wrapped to [0, 2π)) and the output is
//! `amplitude[n] * Σ w_k[n] sin(k φ[n])`.
//!
//! Noise part: the training synth's filtered noise ([`FirNoise`]: white noise through a
//! 128-tap linear-phase FIR per 20-ms frame at 16 kHz, the same design at the playing rate),
//! with the bands the glide reaches at the instant each block starts.

use std::f64::consts::TAU;

use super::fir_noise::FirNoise;
use super::{Controls, HARMONICS, NOISE_BANDS};

/// One voice's synthesiser.
pub struct NeuralSynth {
    sample_rate: f64,
    /// The controls the current glide started from.
    from: Controls,
    /// The frame it glides to (and holds once there).
    to: Controls,
    /// Harmonic weights of `from`, and `to - from`, as f64 for the inner loop.
    weights: [f64; HARMONICS],
    weight_steps: [f64; HARMONICS],
    /// Samples into the glide, and its length; at or past the end the synth holds `to`.
    position: f64,
    length: f64,
    /// φ of the last sample, in [0, 2π).
    phase: f64,
    noise: FirNoise,
    /// The noise bands at the start of the noise's next block.
    bands: [f32; NOISE_BANDS],
}

impl NeuralSynth {
    /// A silent synthesiser at `sample_rate` for a model whose noise bands reach up to
    /// `model_nyquist_hz` (half the model's rate); `seed` picks its noise.
    pub fn new(sample_rate: f32, model_nyquist_hz: f32, seed: u64) -> Self {
        NeuralSynth {
            sample_rate: f64::from(sample_rate),
            from: Controls::silent(0.0),
            to: Controls::silent(0.0),
            weights: [0.0; HARMONICS],
            weight_steps: [0.0; HARMONICS],
            position: 0.0,
            length: 0.0,
            phase: 0.0,
            noise: FirNoise::new(sample_rate, model_nyquist_hz, seed),
            bands: [0.0; NOISE_BANDS],
        }
    }

    /// Silence: no glide, phase 0, the noise cleared.
    pub fn reset(&mut self) {
        self.jump_to(&Controls::silent(0.0));
        self.phase = 0.0;
        self.noise.reset();
    }

    /// Starts at `frame` at once (the first frame of an offline render).
    pub fn jump_to(&mut self, frame: &Controls) {
        self.from = *frame;
        self.to = *frame;
        self.position = 0.0;
        self.length = 0.0;
        self.prepare_glide();
    }

    /// Glides from the controls of this instant to `frame`, reaching it after `samples`
    /// samples and holding it from then on. A frame given mid-glide starts from wherever the
    /// glide is, so a late frame never jumps.
    pub fn set_frame(&mut self, frame: &Controls, samples: f64) {
        let t = self.progress();
        let (from, to) = (&mut self.from, &self.to);
        if t >= 1.0 {
            *from = *to;
        } else {
            let t = t as f32;
            from.f0_hz += (to.f0_hz - from.f0_hz) * t;
            from.amplitude += (to.amplitude - from.amplitude) * t;
            for (a, b) in from.harmonics.iter_mut().zip(&to.harmonics) {
                *a += (b - *a) * t;
            }
            for (a, b) in from.noise.iter_mut().zip(&to.noise) {
                *a += (b - *a) * t;
            }
        }
        self.to = *frame;
        self.position = 0.0;
        self.length = samples.max(0.0);
        self.prepare_glide();
    }

    /// Whether the synth reached the last frame it was given and is holding it.
    pub fn is_holding(&self) -> bool {
        self.position >= self.length
    }

    /// The frame the synth glides to (or holds).
    pub fn target(&self) -> &Controls {
        &self.to
    }

    fn prepare_glide(&mut self) {
        for k in 0..HARMONICS {
            self.weights[k] = f64::from(self.from.harmonics[k]);
            self.weight_steps[k] = f64::from(self.to.harmonics[k]) - self.weights[k];
        }
    }

    /// How far through the glide this sample is, 0..=1.
    fn progress(&self) -> f64 {
        self.progress_ahead(0.0)
    }

    /// How far through the glide the sample `ahead` samples after this one will be, 0..=1,
    /// if no new frame comes before it.
    fn progress_ahead(&self, ahead: f64) -> f64 {
        let position = self.position + ahead;
        if position >= self.length {
            1.0
        } else {
            position / self.length
        }
    }

    /// Renders harmonics plus noise into `out` (overwriting it).
    pub fn render(&mut self, out: &mut [f32]) {
        self.render_parts(out, Noise::Mixed);
    }

    /// Renders only the harmonic part (what the parity test compares).
    pub fn render_harmonic(&mut self, out: &mut [f32]) {
        self.render_parts(out, Noise::Skipped);
    }

    /// Renders the harmonic part into `harmonic` and the noise into `noise` (same length),
    /// for a synthesis graph that treats them apart.
    pub fn render_split(&mut self, harmonic: &mut [f32], noise: &mut [f32]) {
        self.render_parts(harmonic, Noise::Apart(noise));
    }

    fn render_parts(&mut self, out: &mut [f32], mut noise: Noise) {
        let nyquist = self.sample_rate / 2.0;
        let step = TAU / self.sample_rate;
        for (n, sample) in out.iter_mut().enumerate() {
            let t = self.progress();
            let (from, to) = (&self.from, &self.to);
            let f0 = f64::from(from.f0_hz) + (f64::from(to.f0_hz) - f64::from(from.f0_hz)) * t;
            let amplitude = f64::from(from.amplitude)
                + (f64::from(to.amplitude) - f64::from(from.amplitude)) * t;
            self.phase += step * f0;
            if self.phase >= TAU || self.phase < 0.0 {
                self.phase = self.phase.rem_euclid(TAU);
            }
            let mut y = 0.0;
            if amplitude != 0.0 && f0 > 0.0 {
                y = amplitude
                    * harmonic_sum(
                        self.phase,
                        f0,
                        nyquist,
                        t,
                        &self.weights,
                        &self.weight_steps,
                    );
            }
            if !matches!(noise, Noise::Skipped) {
                if let Some(ahead) = self.noise.due() {
                    let t = self.progress_ahead(ahead as f64) as f32;
                    for (band, (a, b)) in self
                        .bands
                        .iter_mut()
                        .zip(self.from.noise.iter().zip(&self.to.noise))
                    {
                        *band = a + (b - a) * t;
                    }
                    self.noise.start_block(&self.bands);
                }
                let z = self.noise.next_sample();
                match &mut noise {
                    Noise::Apart(buffer) => buffer[n] = z,
                    _ => y += f64::from(z),
                }
            }
            *sample = y as f32;
            if self.position < self.length {
                self.position += 1.0;
            }
        }
    }
}

/// Where [`NeuralSynth::render_parts`] puts the noise.
enum Noise<'a> {
    /// Not rendered.
    Skipped,
    /// Added to the harmonic part.
    Mixed,
    /// Into a buffer of its own.
    Apart(&'a mut [f32]),
}

/// `Σ w_k sin(k φ) / Σ w_k` over the harmonics below Nyquist, with `w = weights + t * steps`.
/// `sin(k φ)` comes from the Chebyshev recurrence `s_(k+4) = 2 cos 4φ s_k - s_(k-4)`, run as
/// four independent chains (harmonics 1, 5, 9…; 2, 6, 10…; …) so they overlap in the CPU:
/// exact enough in f64 for 60 harmonics, and far cheaper than 60 sines.
fn harmonic_sum(
    phase: f64,
    f0: f64,
    nyquist: f64,
    t: f64,
    weights: &[f64; HARMONICS],
    steps: &[f64; HARMONICS],
) -> f64 {
    let count = audible_harmonics(f0, nyquist);
    if count == 0 {
        return 0.0;
    }
    let (s1, c1) = phase.sin_cos();
    let s2 = 2.0 * c1 * s1;
    let s3 = 2.0 * c1 * s2 - s1;
    let s4 = 2.0 * c1 * s3 - s2;
    let c2 = 2.0 * c1 * c1 - 1.0;
    let twice_c4 = 2.0 * (2.0 * c2 * c2 - 1.0);
    // Chain r holds sin((k)φ) for k = r + 1 + 4i, and sin((k - 4)φ) before it.
    let mut current = [s1, s2, s3, s4];
    let mut previous = [-s3, -s2, -s1, 0.0];
    let mut sum = [0.0; 4];
    let mut sum_steps = [0.0; 4];
    let mut total = [0.0; 4];
    let mut total_steps = [0.0; 4];
    let full = count / 4 * 4;
    for base in (0..full).step_by(4) {
        for r in 0..4 {
            let k = base + r;
            sum[r] += weights[k] * current[r];
            sum_steps[r] += steps[k] * current[r];
            total[r] += weights[k];
            total_steps[r] += steps[k];
            let next = twice_c4 * current[r] - previous[r];
            previous[r] = current[r];
            current[r] = next;
        }
    }
    for r in 0..count - full {
        let k = full + r;
        sum[r] += weights[k] * current[r];
        sum_steps[r] += steps[k] * current[r];
        total[r] += weights[k];
        total_steps[r] += steps[k];
    }
    let add = |x: [f64; 4]| (x[0] + x[1]) + (x[2] + x[3]);
    let total = add(total) + t * add(total_steps);
    if total > 0.0 {
        (add(sum) + t * add(sum_steps)) / total
    } else {
        0.0
    }
}

/// How many harmonics `k = 1, 2, …` (at most 60) satisfy `k * f0 < nyquist`.
fn audible_harmonics(f0: f64, nyquist: f64) -> usize {
    if f0 <= 0.0 {
        return 0;
    }
    let mut count = ((nyquist / f0).ceil().max(1.0) as usize - 1).min(HARMONICS);
    while count > 0 && count as f64 * f0 >= nyquist {
        count -= 1;
    }
    while count < HARMONICS && (count + 1) as f64 * f0 < nyquist {
        count += 1;
    }
    count
}

/// Renders `frames` offline as the contract describes: frame `i` at sample `i * hop`, linear
/// between frames, the last frame held; `samples` long. With `noise` false, only the harmonic
/// part (the parity test's reference).
pub fn render_frames(
    frames: &[Controls],
    sample_rate: f32,
    model_nyquist_hz: f32,
    hop: f64,
    samples: usize,
    noise: bool,
) -> Vec<f32> {
    let mode = |noise| if noise { Noise::Mixed } else { Noise::Skipped };
    let mut out = vec![0.0; samples];
    let Some(first) = frames.first() else {
        return out;
    };
    let mut synth = NeuralSynth::new(sample_rate, model_nyquist_hz, 1);
    synth.jump_to(first);
    let mut start = 0usize;
    for (i, frame) in frames.iter().enumerate().skip(1) {
        let end = ((i as f64 * hop).round() as usize).min(samples);
        synth.set_frame(frame, (end - start) as f64);
        synth.render_parts(&mut out[start..end], mode(noise));
        start = end;
    }
    synth.render_parts(&mut out[start..], mode(noise));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(f0_hz: f32, amplitude: f32, harmonic: usize) -> Controls {
        let mut c = Controls::silent(f0_hz);
        c.amplitude = amplitude;
        c.harmonics[harmonic - 1] = 1.0;
        c
    }

    /// The contract's formula, sample by sample, with sines computed directly.
    fn reference(frames: &[Controls], sr: f64, hop: usize, samples: usize) -> Vec<f32> {
        let mut phase = 0.0f64;
        (0..samples)
            .map(|n| {
                let i = (n / hop).min(frames.len() - 1);
                let (a, b) = (&frames[i], &frames[(i + 1).min(frames.len() - 1)]);
                let t = if i + 1 < frames.len() {
                    (n - i * hop) as f64 / hop as f64
                } else {
                    0.0
                };
                let lerp = |x: f32, y: f32| f64::from(x) + (f64::from(y) - f64::from(x)) * t;
                let f0 = lerp(a.f0_hz, b.f0_hz);
                phase = (phase + TAU * f0 / sr).rem_euclid(TAU);
                let mut weights: Vec<f64> = (0..HARMONICS)
                    .map(|k| {
                        if (k + 1) as f64 * f0 >= sr / 2.0 {
                            0.0
                        } else {
                            lerp(a.harmonics[k], b.harmonics[k])
                        }
                    })
                    .collect();
                let total: f64 = weights.iter().sum();
                if total > 0.0 {
                    weights.iter_mut().for_each(|w| *w /= total);
                }
                let y: f64 = weights
                    .iter()
                    .enumerate()
                    .map(|(k, w)| w * ((k + 1) as f64 * phase).sin())
                    .sum();
                (lerp(a.amplitude, b.amplitude) * y) as f32
            })
            .collect()
    }

    #[test]
    fn the_harmonic_part_follows_the_contract() {
        let sr = 48_000.0;
        let hop = 960;
        let mut frames = vec![
            frame(220.0, 0.5, 1),
            frame(230.0, 0.8, 3),
            frame(5000.0, 0.3, 2),
        ];
        // A spread distribution, part of it above Nyquist at 5 kHz.
        for k in 0..HARMONICS {
            frames[2].harmonics[k] = 1.0 / HARMONICS as f32;
        }
        let ours = render_frames(&frames, sr, 8000.0, hop as f64, 4 * hop, false);
        let theirs = reference(&frames, f64::from(sr), hop, 4 * hop);
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}");
    }

    #[test]
    fn a_late_frame_holds_the_previous_one() {
        let mut synth = NeuralSynth::new(48_000.0, 8000.0, 3);
        synth.jump_to(&frame(100.0, 0.0, 1));
        synth.set_frame(&frame(100.0, 1.0, 1), 480.0);
        let mut out = vec![0.0; 2000];
        synth.render_harmonic(&mut out);
        assert!(synth.is_holding());
        // After the glide the level holds at the target: a full-scale sine.
        let peak = out[1000..].iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 1.0).abs() < 1e-3, "{peak}");
        // A frame arriving mid-glide starts from where the glide is: no jump.
        synth.set_frame(&frame(100.0, 0.0, 1), 480.0);
        synth.render_harmonic(&mut out[..240]);
        let before = out[239];
        synth.set_frame(&frame(100.0, 1.0, 1), 480.0);
        synth.render_harmonic(&mut out[..1]);
        assert!((out[0] - before).abs() < 0.02, "{before} → {}", out[0]);
    }

    /// Offline, block `b` of the noise is filtered by frame `b`'s bands exactly (the synth
    /// reads them half a FIR ahead, where its glide already reaches the frame), as in the
    /// training synth.
    #[test]
    fn the_noise_of_a_voice_is_the_processor_on_its_frames() {
        let (sr, hop) = (16_000.0, 320);
        let frames: Vec<Controls> = (0..6)
            .map(|i| {
                let mut c = frame(200.0 + 30.0 * i as f32, 0.3, 1 + i);
                for (k, b) in c.noise.iter_mut().enumerate() {
                    *b = 0.05 * (1.0 + ((k + 7 * i) as f32 * 0.4).sin());
                }
                c
            })
            .collect();
        let samples = 6 * hop;
        let both = render_frames(&frames, sr, 8000.0, hop as f64, samples, true);
        let tone = render_frames(&frames, sr, 8000.0, hop as f64, samples, false);
        // The same noise source (render_frames seeds its synth with 1), driven frame by frame.
        let mut noise = FirNoise::new(sr, 8000.0, 1);
        let mut block = 0;
        let mut worst = 0.0f32;
        for n in 0..samples {
            if noise.due().is_some() {
                noise.start_block(&frames[block.min(5)].noise);
                block += 1;
            }
            worst = worst.max((both[n] - tone[n] - noise.next_sample()).abs());
        }
        assert!(worst < 1e-6, "largest difference {worst}");
        let power = both
            .iter()
            .zip(&tone)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>();
        assert!(power > 0.01, "the noise is heard ({power})");
    }

    #[test]
    fn noise_follows_the_bands_and_has_the_training_level() {
        let sr = 48_000.0;
        let mut synth = NeuralSynth::new(sr, 8000.0, 7);
        let mut c = Controls::silent(100.0);
        c.noise = [1.0; NOISE_BANDS];
        synth.jump_to(&c);
        let mut out = vec![0.0; 48_000];
        synth.render(&mut out);
        // Flat magnitude 1 up to 8 kHz: white noise of variance 1/3 at 16 kHz, whose power
        // is all below 8 kHz, so the same variance here.
        let variance = out[4800..].iter().map(|s| s * s).sum::<f32>() / (out.len() - 4800) as f32;
        assert!((variance - 1.0 / 3.0).abs() < 0.03, "{variance}");
        // Bands up to 4 kHz only: about half the power (the linear ramp to the next band
        // adds a third of a band).
        c.noise = [0.0; NOISE_BANDS];
        c.noise[..=32].fill(1.0);
        synth.jump_to(&c);
        synth.render(&mut out);
        let variance = out[4800..].iter().map(|s| s * s).sum::<f32>() / (out.len() - 4800) as f32;
        let expected = (32.0 + 1.0 / 3.0) / 64.0 / 3.0;
        assert!(
            (variance - expected).abs() < 0.1 * expected,
            "{variance} vs {expected}"
        );
        // Silence stays silent once the last block (960 samples and the 384-tap FIR's tail)
        // has played out.
        c.noise = [0.0; NOISE_BANDS];
        synth.jump_to(&c);
        synth.render(&mut out[..4096]);
        assert!(out[2048..4096].iter().all(|s| *s == 0.0));
    }
}
