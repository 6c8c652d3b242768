//! The window's view of the sound: it pops the samples the audio thread pushes into the scope
//! ring (`mephisto_rt::taps`), keeps the latest few thousand, and turns them into a spectrum
//! (Hann-windowed FFT, planned once) and a triggered oscilloscope trace.

use std::sync::Arc;

use mephisto_rt::engine::EngineEvent;
use mephisto_rt::taps::WindowTaps;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// The FFT size: 43 ms at 48 kHz, 12 Hz bins.
pub const FFT_SIZE: usize = 4096;
/// Samples kept on the window's side (the FFT's and the trace's input).
const HISTORY: usize = 2 * FFT_SIZE;
/// The spectrum's floor; quieter bins are drawn at the bottom.
pub const FLOOR_DB: f32 = -96.0;
/// How fast a displayed peak falls, in dB per analysed frame, so the display does not flicker.
const FALL_DB: f32 = 3.0;

/// The window's ends of the taps: the scope and the keyboard.
pub struct GuiTaps {
    pub scope: Scope,
    pub keys: rtrb::Producer<EngineEvent>,
}

impl GuiTaps {
    pub fn new(taps: WindowTaps) -> GuiTaps {
        GuiTaps {
            scope: Scope::new(taps.scope),
            keys: taps.keys,
        }
    }
}

/// The window's side of the scope: the latest samples and the analysis of them.
pub struct Scope {
    ring: rtrb::Consumer<f32>,
    /// The latest `HISTORY` samples, oldest first once full; `write` is where the next goes.
    history: Vec<f32>,
    write: usize,
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    buffer: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Displayed level of each bin (dB), falling slowly from peaks.
    levels: Vec<f32>,
}

impl Scope {
    pub fn new(ring: rtrb::Consumer<f32>) -> Self {
        let fft = FftPlanner::new().plan_fft_forward(FFT_SIZE);
        let scratch = vec![Complex::default(); fft.get_inplace_scratch_len()];
        let window = (0..FFT_SIZE)
            .map(|i| {
                let phase = std::f32::consts::TAU * i as f32 / FFT_SIZE as f32;
                0.5 - 0.5 * phase.cos()
            })
            .collect();
        Scope {
            ring,
            history: vec![0.0; HISTORY],
            write: 0,
            fft,
            window,
            buffer: vec![Complex::default(); FFT_SIZE],
            scratch,
            levels: vec![FLOOR_DB; FFT_SIZE / 2],
        }
    }

    /// Takes whatever the audio thread pushed since the last call; returns how many samples.
    pub fn pull(&mut self) -> usize {
        let mut count = 0;
        while let Ok(sample) = self.ring.pop() {
            self.history[self.write] = sample;
            self.write = (self.write + 1) % HISTORY;
            count += 1;
        }
        count
    }

    /// The sample `age` samples before the newest (0: the newest).
    fn sample(&self, age: usize) -> f32 {
        self.history[(self.write + HISTORY - 1 - age % HISTORY) % HISTORY]
    }

    /// Analyses the newest `FFT_SIZE` samples and returns each bin's displayed level in dB
    /// (bin `k` is `k · sample_rate / FFT_SIZE` Hz), 0 dB being a full-scale sine.
    pub fn spectrum(&mut self) -> &[f32] {
        for i in 0..FFT_SIZE {
            let x = self.sample(FFT_SIZE - 1 - i);
            self.buffer[i] = Complex::new(x * self.window[i], 0.0);
        }
        self.fft
            .process_with_scratch(&mut self.buffer, &mut self.scratch);
        // A full-scale sine gives |X| = N/4 with a Hann window.
        let scale = 4.0 / FFT_SIZE as f32;
        for (level, x) in self.levels.iter_mut().zip(&self.buffer) {
            let db = (20.0 * (x.norm() * scale).max(1e-9).log10()).max(FLOOR_DB);
            *level = db.max(*level - FALL_DB);
        }
        &self.levels
    }

    /// The newest `len` samples (at most half the history), started at a rising zero
    /// crossing so a steady tone stands still on screen.
    pub fn trace(&self, len: usize, out: &mut Vec<f32>) {
        let len = len.min(HISTORY / 2);
        let search = HISTORY - len;
        // Ages count back from the newest sample; the trace starts `start` samples back.
        let start = (len..search)
            .find(|&age| self.sample(age) > 0.0 && self.sample(age + 1) <= 0.0)
            .unwrap_or(len - 1);
        out.clear();
        out.extend((0..len).map(|i| self.sample(start - i)));
    }
}

/// The level (dB) the spectrum shows at `hz`, interpolated between bins.
pub fn level_at(levels: &[f32], hz: f32, sample_rate: f32) -> f32 {
    let position = hz * FFT_SIZE as f32 / sample_rate;
    let below = (position.floor() as usize).min(levels.len().saturating_sub(2));
    let t = (position - below as f32).clamp(0.0, 1.0);
    levels[below] * (1.0 - t) + levels[below + 1] * t
}

#[cfg(test)]
mod tests {
    use super::*;
    use mephisto_rt::taps::AudioTaps;

    fn taps() -> (AudioTaps, GuiTaps) {
        let (audio, window) = mephisto_rt::taps::taps();
        (audio, GuiTaps::new(window))
    }

    fn sine(hz: f32, sample_rate: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| (std::f32::consts::TAU * hz * i as f32 / sample_rate).sin())
            .collect()
    }

    #[test]
    fn a_sine_through_the_ring_peaks_at_its_frequency() {
        let (mut audio, mut gui) = taps();
        let rate = 48_000.0;
        let tone = sine(1_000.0, rate, FFT_SIZE);
        for block in tone.chunks(256) {
            audio.feed(block, block);
        }
        assert_eq!(gui.scope.pull(), FFT_SIZE);
        let levels = gui.scope.spectrum().to_vec();
        let peak = (0..levels.len())
            .max_by(|&a, &b| levels[a].total_cmp(&levels[b]))
            .unwrap();
        let peak_hz = peak as f32 * rate / FFT_SIZE as f32;
        assert!(
            (peak_hz - 1_000.0).abs() < rate / FFT_SIZE as f32,
            "{peak_hz}"
        );
        assert!(
            levels[peak] > -2.0 && levels[peak] < 0.5,
            "{}",
            levels[peak]
        );
        assert!(level_at(&levels, 8_000.0, rate) < -60.0);
    }

    #[test]
    fn the_trace_starts_at_a_rising_zero_crossing() {
        let (mut audio, mut gui) = taps();
        let tone = sine(440.0, 48_000.0, 6000);
        audio.feed(&tone, &tone);
        gui.scope.pull();
        let mut trace = Vec::new();
        gui.scope.trace(1024, &mut trace);
        assert_eq!(trace.len(), 1024);
        assert!(trace[0] > 0.0 && trace[0] < 0.1, "{}", trace[0]);
        assert!(trace[1] > trace[0]);
    }
}
