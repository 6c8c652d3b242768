//! Descriptors of one rendered note: level, spectral shape, change over time, envelope and
//! pitch. They are what the semantic macros must move (docs/MACROS.md: Bright → centroid, Warm →
//! low-mid share, Grit → flatness, Space → decay and tail, Motion → flux, Punch → attack and
//! crest) and what prompt evaluation names in JSON (see [`FEATURE_NAMES`]).
//!
//! The note is split into parts found on a 5 ms RMS envelope:
//! * the *onset*: the first envelope sample within 40 dB of the envelope's maximum;
//! * the *active part*: from the onset to the last envelope sample within 40 dB of the maximum;
//! * the *held part*: from the onset to note-off, or to the end when no note-off is given.

use std::ops::Range;

use super::stft::Stft;
use super::yin::Yin;

/// Analysis frames: about 43 ms every 11 ms at 48 kHz, with 23 Hz bins, so the low-mid band's
/// edges are resolved to about a bin (a partial right on an edge counts partly).
pub const ANALYSIS_FFT_SIZE: usize = 2048;
pub const ANALYSIS_HOP: usize = ANALYSIS_FFT_SIZE / 4;
/// What silence reads as in every level: finite, so it survives JSON.
pub const FLOOR_DB: f32 = -120.0;
/// Length of the RMS envelope's (centred) window.
pub const ENVELOPE_SECONDS: f32 = 0.005;
/// The onset, the end of the active part and the end of the tail: this far below the
/// envelope's maximum.
pub const SILENCE_DB: f32 = -40.0;
/// The attack ends where the envelope first comes this close to its maximum.
pub const ATTACK_END_DB: f32 = -3.0;
/// The decay ends where the envelope has fallen this far below its maximum.
pub const DECAY_END_DB: f32 = -20.0;
/// The rolloff frequency is where this share of a frame's energy lies below.
pub const ROLLOFF_SHARE: f64 = 0.85;
/// The band whose energy share is `low_mid` ("Warm").
pub const LOW_MID_HZ: (f32, f32) = (100.0, 600.0);
/// Flatness counts no bin's power as less than this fraction of the frame's mean bin power
/// (−100 dB). A synthesised tone leaves bins empty to the last bit of a float; without a
/// floor those bins' logarithms would decide the flatness, and it would measure rounding
/// noise rather than anything audible.
pub const FLATNESS_FLOOR: f64 = 1e-10;

/// The names prompt evaluation uses for the descriptors, in field order; see [`Features::get`].
pub const FEATURE_NAMES: [&str; 14] = [
    "rms", "loudness", "peak", "crest", "centroid", "rolloff", "flatness", "flux", "low_mid",
    "attack", "decay", "tail", "f0", "level",
];

/// Descriptors of one mono note. Levels are dB re full scale (a full-scale square wave has
/// 0 dB RMS), floored at [`FLOOR_DB`]; times are seconds; frequencies are Hz.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// RMS level of the active part, dBFS.
    pub rms_db: f32,
    /// A-weighted RMS level of the active part, dBFS: `rms_db` plus the A-weighting power
    /// gain of its spectrum. Equal to `rms_db` for a 1 kHz sine, about 19 dB below it for a
    /// 100 Hz one.
    pub loudness_db: f32,
    /// Largest absolute sample value anywhere, dBFS.
    pub peak_db: f32,
    /// Peak over RMS of the held part after the attack, dB (3 dB for a sine). After the
    /// attack, so that a slow swell's quiet start does not read as a peaky sound.
    pub crest_db: f32,
    /// Spectral centroid of the held part, Hz: each frame's magnitude-weighted mean
    /// frequency, averaged over frames weighted by their energy.
    pub centroid_hz: f32,
    /// Frequency below which 85 % of a frame's energy lies, Hz; energy-weighted average over
    /// the held part's frames.
    pub rolloff_hz: f32,
    /// Spectral flatness, 0..1: geometric over arithmetic mean of each frame's power
    /// spectrum (no bin counting below [`FLATNESS_FLOOR`]), energy-weighted average over the
    /// held part. Near 0 for a sine, about 0.56 for white noise.
    pub flatness: f32,
    /// Spectral flux, 0..1: how far each frame's spectral shape (magnitudes divided by their
    /// sum, so level alone does not count) is from the previous frame's, as half their L1
    /// distance; energy-weighted mean over the held part after the attack (at most its second
    /// half, so a swell whose attack lasts the whole note is still measured). 0 for a spectrum
    /// that never changes, 1 for one that jumps to disjoint bins every frame.
    pub flux: f32,
    /// Share of the held part's energy between 100 and 600 Hz, 0..1.
    pub low_mid_share: f32,
    /// From the onset to the envelope first coming within 3 dB of its maximum, seconds.
    /// A linear fade-in of length T reads about 0.7 T (from -40 dB to -3 dB of a ramp).
    pub attack_s: f32,
    /// From the envelope's maximum to its falling 20 dB below it, seconds. When it never
    /// does, this is the time to the end of the audio: a lower bound.
    pub decay_s: f32,
    /// From note-off to the envelope falling 40 dB below its maximum, seconds; 0 without a
    /// note-off or when it is already that quiet. When it never does, this is the time to the
    /// end of the audio: a lower bound.
    pub tail_s: f32,
    /// Fundamental of the held part by YIN, Hz: the median of the voiced frames' estimates;
    /// 0 when fewer than half the audible frames are voiced or the held part is shorter than a
    /// YIN frame (about 67 ms).
    pub f0_hz: f32,
    /// The loudest momentary loudness (BS.1770 K-weighting, 400 ms windows), LUFS: the
    /// figure patches are levelled to ([`crate::level`]).
    pub level_lufs: f32,
}

impl Features {
    /// What empty or silent audio measures.
    pub const SILENT: Features = Features {
        rms_db: FLOOR_DB,
        loudness_db: FLOOR_DB,
        peak_db: FLOOR_DB,
        crest_db: 0.0,
        centroid_hz: 0.0,
        rolloff_hz: 0.0,
        flatness: 0.0,
        flux: 0.0,
        low_mid_share: 0.0,
        attack_s: 0.0,
        decay_s: 0.0,
        tail_s: 0.0,
        f0_hz: 0.0,
        level_lufs: FLOOR_DB,
    };

    /// Measures mono `audio`; `note_off_seconds` is when the note was released, from the
    /// start of `audio`. Plans its own FFTs; use an [`Analyzer`] to measure many notes.
    pub fn measure(audio: &[f32], sample_rate: f32, note_off_seconds: Option<f64>) -> Features {
        Analyzer::new().measure(audio, sample_rate, note_off_seconds)
    }

    /// The descriptor called `name` in [`FEATURE_NAMES`].
    pub fn get(&self, name: &str) -> Option<f32> {
        Some(match name {
            "rms" => self.rms_db,
            "loudness" => self.loudness_db,
            "peak" => self.peak_db,
            "crest" => self.crest_db,
            "centroid" => self.centroid_hz,
            "rolloff" => self.rolloff_hz,
            "flatness" => self.flatness,
            "flux" => self.flux,
            "low_mid" => self.low_mid_share,
            "attack" => self.attack_s,
            "decay" => self.decay_s,
            "tail" => self.tail_s,
            "f0" => self.f0_hz,
            "level" => self.level_lufs,
            _ => return None,
        })
    }
}

impl Default for Features {
    fn default() -> Self {
        Self::SILENT
    }
}

/// Measures [`Features`], keeping its FFT plans and buffers between notes.
pub struct Analyzer {
    /// The spectral descriptors' STFT.
    stft: Stft,
    /// The 5 ms RMS envelope of the note being measured, one value per sample.
    envelope: Vec<f32>,
    /// The previous frame's spectral shape, for the flux.
    previous_shape: Vec<f32>,
    /// This note's per-frame fundamentals, for their median.
    f0_estimates: Vec<f32>,
    /// What depends on the sample rate; rebuilt when it changes.
    rate: Option<RateDependent>,
    /// Whether the fundamental is estimated (YIN); without it `f0_hz` reads 0.
    pitch: bool,
}

/// The parts of an [`Analyzer`] that depend on the sample rate.
struct RateDependent {
    /// A-weighting power gain of each STFT bin.
    a_weight: Vec<f32>,
    yin: Yin,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl Analyzer {
    pub fn new() -> Self {
        let stft = Stft::new(ANALYSIS_FFT_SIZE, ANALYSIS_HOP);
        let bins = stft.bins();
        Self {
            stft,
            envelope: Vec::new(),
            previous_shape: vec![0.0; bins],
            f0_estimates: Vec::new(),
            rate: None,
            pitch: true,
        }
    }

    /// An analyzer that leaves the fundamental out (`f0_hz` reads 0) and measures every
    /// other descriptor exactly as [`Analyzer::new`]'s does: for callers that never read
    /// the pitch (the offline designer's analysis check), YIN is a tenth of the analysis.
    pub fn without_pitch() -> Self {
        Self {
            pitch: false,
            ..Self::new()
        }
    }

    /// Measures mono `audio`; see [`Features::measure`].
    pub fn measure(
        &mut self,
        audio: &[f32],
        sample_rate: f32,
        note_off_seconds: Option<f64>,
    ) -> Features {
        let len = audio.len();
        let peak = audio.iter().fold(0.0f32, |peak, x| peak.max(x.abs()));
        if len == 0 || sample_rate.is_nan() || sample_rate <= 0.0 {
            return Features::SILENT;
        }
        self.follow_envelope(audio, sample_rate);
        let envelope = &self.envelope;
        let (max_index, env_max) = envelope.iter().enumerate().fold(
            (0, 0.0f32),
            |best, (i, &e)| if e > best.1 { (i, e) } else { best },
        );
        if env_max <= 0.0 {
            return Features {
                peak_db: amplitude_db(peak),
                ..Features::SILENT
            };
        }
        let seconds = |samples: usize| samples as f32 / sample_rate;
        let silence = env_max * db_to_amplitude(SILENCE_DB);

        // The maximum itself passes every threshold below, so these searches succeed.
        let onset = envelope.iter().position(|&e| e >= silence).unwrap_or(0);
        let active_end = envelope.iter().rposition(|&e| e >= silence).unwrap_or(0) + 1;
        let attack_level = env_max * db_to_amplitude(ATTACK_END_DB);
        let attack_end = onset
            + envelope[onset..]
                .iter()
                .position(|&e| e >= attack_level)
                .unwrap_or(0);
        let decay_level = env_max * db_to_amplitude(DECAY_END_DB);
        let decay_end = envelope[max_index..]
            .iter()
            .position(|&e| e <= decay_level)
            .map_or(len, |p| max_index + p);

        // `as usize` saturates: a negative or NaN time is the first sample.
        let note_off = note_off_seconds.map(|t| (t * sample_rate as f64).round() as usize);
        let tail_s = match note_off {
            Some(off) if off < len && envelope[off] >= silence => {
                let end = envelope[off..]
                    .iter()
                    .position(|&e| e < silence)
                    .map_or(len, |p| off + p);
                seconds(end - off)
            }
            _ => 0.0,
        };
        // At least one sample, so a note released before its onset still has a held part.
        let held_end = note_off.map_or(len, |off| off.min(len)).max(onset + 1);

        let rms_db = power_db(mean_square(&audio[onset..active_end]));
        let held = &audio[attack_end.min(held_end - 1)..held_end];
        let held_peak = held.iter().fold(0.0f32, |peak, x| peak.max(x.abs()));
        let held_rms = mean_square(held).sqrt() as f32;
        let crest_db = if held_rms > 0.0 {
            amplitude_db(held_peak / held_rms).max(0.0)
        } else {
            0.0
        };

        if self
            .rate
            .as_ref()
            .is_none_or(|rate| rate.yin.sample_rate() != sample_rate)
        {
            self.rate = Some(RateDependent::new(&self.stft, sample_rate));
        }
        let spectrum = self.spectral_pass(
            &audio[onset..],
            sample_rate,
            held_end - onset,
            active_end.max(held_end) - onset,
            // A swell whose attack lasts the whole note still has its second half measured.
            (attack_end - onset).min((held_end - onset) / 2),
        );
        let f0_hz = if self.pitch {
            self.fundamental(audio, onset..held_end, silence)
        } else {
            0.0
        };

        Features {
            rms_db,
            loudness_db: if spectrum.energy > 0.0 && rms_db > FLOOR_DB {
                (rms_db + power_db(spectrum.a_weighted_energy / spectrum.energy)).max(FLOOR_DB)
            } else {
                rms_db
            },
            peak_db: amplitude_db(peak),
            crest_db,
            centroid_hz: spectrum.centroid_hz,
            rolloff_hz: spectrum.rolloff_hz,
            flatness: spectrum.flatness,
            flux: spectrum.flux,
            low_mid_share: spectrum.low_mid_share,
            attack_s: seconds(attack_end - onset),
            decay_s: seconds(decay_end - max_index),
            tail_s,
            f0_hz,
            level_lufs: crate::level::momentary_max_lufs(audio, sample_rate),
        }
    }

    /// Fills `self.envelope` with the RMS of a window of [`ENVELOPE_SECONDS`] centred on each
    /// sample; samples outside `audio` count as zeros.
    fn follow_envelope(&mut self, audio: &[f32], sample_rate: f32) {
        let len = audio.len();
        let width = ((ENVELOPE_SECONDS * sample_rate).round() as usize).max(1);
        let ahead = width - width / 2;
        let square = |i: usize| (audio[i] as f64).powi(2);
        self.envelope.clear();
        self.envelope.reserve(len);
        let mut sum: f64 = (0..ahead.min(len)).map(square).sum();
        for i in 0..len {
            if i > 0 {
                let entering = i + ahead - 1;
                if entering < len {
                    sum += square(entering);
                }
                if let Some(leaving) = (i + ahead).checked_sub(width + 1) {
                    sum -= square(leaving);
                }
            }
            self.envelope
                .push((sum.max(0.0) / width as f64).sqrt() as f32);
        }
    }

    /// Spectral descriptors from frames starting at the onset (`signal[0]`). Frames starting
    /// before `held_len` are the held part, frames starting before `pass_len` the active part
    /// (for the loudness), frames starting at or after `attack_len` count for the flux. Frames
    /// that would run past the end of the audio are left out unless there is no other.
    fn spectral_pass(
        &mut self,
        signal: &[f32],
        sample_rate: f32,
        held_len: usize,
        pass_len: usize,
        attack_len: usize,
    ) -> Spectrum {
        let Self {
            stft,
            previous_shape,
            rate,
            ..
        } = self;
        let a_weight = &rate
            .as_ref()
            .expect("rate-dependent state is built")
            .a_weight;
        let (fft_size, hop) = (stft.fft_size(), stft.hop());
        let bin_hz = stft.bin_hz(sample_rate) as f64;
        let low_mid = (
            (LOW_MID_HZ.0 as f64 / bin_hz).ceil() as usize,
            (LOW_MID_HZ.1 as f64 / bin_hz).floor() as usize,
        );
        let frames = match signal.len().checked_sub(fft_size) {
            Some(last_full_start) => pass_len.min(last_full_start + 1).div_ceil(hop).max(1),
            None => 1,
        };

        let mut sums = SpectrumSums::default();
        let mut has_previous = false;
        for index in 0..frames {
            let start = index * hop;
            let magnitudes = stft.frame_magnitudes(signal, index);
            let mut energy = 0.0f64;
            let mut a_weighted = 0.0f64;
            for (&m, &w) in magnitudes.iter().zip(a_weight) {
                let power = (m as f64).powi(2);
                energy += power;
                a_weighted += power * w as f64;
            }
            sums.active_energy += energy;
            sums.a_weighted_energy += a_weighted;
            if index > 0 && start >= held_len {
                continue;
            }
            sums.held_energy += energy;
            if energy <= 0.0 {
                has_previous = false;
                continue;
            }

            let mut magnitude_sum = 0.0f64;
            let mut weighted_frequency = 0.0f64;
            let mut log_power = 0.0f64;
            let power_floor = energy / magnitudes.len() as f64 * FLATNESS_FLOOR;
            for (k, &m) in magnitudes.iter().enumerate() {
                let m = m as f64;
                magnitude_sum += m;
                weighted_frequency += m * k as f64 * bin_hz;
                log_power += (m * m).max(power_floor).ln();
                if (low_mid.0..=low_mid.1).contains(&k) {
                    sums.low_mid_energy += m * m;
                }
            }
            let bins = magnitudes.len() as f64;
            let flatness = ((log_power / bins).exp() / (energy / bins)).min(1.0);
            let mut below = 0.0f64;
            let rolloff_bin = magnitudes
                .iter()
                .position(|&m| {
                    below += (m as f64).powi(2);
                    below >= ROLLOFF_SHARE * energy
                })
                .unwrap_or(magnitudes.len() - 1);

            sums.centroid += energy * weighted_frequency / magnitude_sum;
            sums.rolloff += energy * rolloff_bin as f64 * bin_hz;
            sums.flatness += energy * flatness;

            if start >= attack_len {
                let mut distance = 0.0f64;
                for (previous, &m) in previous_shape.iter_mut().zip(magnitudes) {
                    let shape = (m as f64 / magnitude_sum) as f32;
                    distance += (shape - *previous).abs() as f64;
                    *previous = shape;
                }
                if has_previous {
                    sums.flux += energy * 0.5 * distance;
                    sums.flux_weight += energy;
                }
                has_previous = true;
            }
        }
        sums.finish()
    }

    /// The median YIN estimate over frames of `audio` starting in `starts` (the held part),
    /// skipping frames quieter than `silence` (RMS); 0 when under half the rest are voiced.
    fn fundamental(&mut self, audio: &[f32], starts: Range<usize>, silence: f32) -> f32 {
        let yin = &mut self
            .rate
            .as_mut()
            .expect("rate-dependent state is built")
            .yin;
        let frame_len = yin.frame_len();
        let hop = frame_len / 2;
        let estimates = &mut self.f0_estimates;
        estimates.clear();
        let mut audible = 0usize;
        // A frame may read past the held part into the release, as long as the audio lasts.
        for start in starts.step_by(hop) {
            let Some(frame) = audio.get(start..start + frame_len) else {
                break;
            };
            if mean_square(frame).sqrt() as f32 >= silence {
                audible += 1;
                estimates.extend(yin.estimate(frame));
            }
        }
        if estimates.is_empty() || estimates.len() * 2 < audible {
            return 0.0;
        }
        estimates.sort_by(f32::total_cmp);
        let middle = estimates.len() / 2;
        if estimates.len() % 2 == 1 {
            estimates[middle]
        } else {
            0.5 * (estimates[middle - 1] + estimates[middle])
        }
    }
}

impl RateDependent {
    fn new(stft: &Stft, sample_rate: f32) -> Self {
        let bin_hz = stft.bin_hz(sample_rate);
        let a_weight = (0..stft.bins())
            .map(|k| a_weighting_power(k as f32 * bin_hz))
            .collect();
        Self {
            a_weight,
            yin: Yin::new(sample_rate),
        }
    }
}

/// Running sums of the spectral pass; see [`Analyzer::spectral_pass`].
#[derive(Default)]
struct SpectrumSums {
    active_energy: f64,
    a_weighted_energy: f64,
    held_energy: f64,
    low_mid_energy: f64,
    centroid: f64,
    rolloff: f64,
    flatness: f64,
    flux: f64,
    flux_weight: f64,
}

/// The spectral descriptors, energy-weighted averages already taken.
struct Spectrum {
    /// Energy of the active part, for the loudness (unit: summed squared magnitudes).
    energy: f64,
    a_weighted_energy: f64,
    centroid_hz: f32,
    rolloff_hz: f32,
    flatness: f32,
    flux: f32,
    low_mid_share: f32,
}

impl SpectrumSums {
    fn finish(self) -> Spectrum {
        let average = |sum: f64, weight: f64| {
            if weight > 0.0 {
                (sum / weight) as f32
            } else {
                0.0
            }
        };
        Spectrum {
            energy: self.active_energy,
            a_weighted_energy: self.a_weighted_energy,
            centroid_hz: average(self.centroid, self.held_energy),
            rolloff_hz: average(self.rolloff, self.held_energy),
            flatness: average(self.flatness, self.held_energy),
            flux: average(self.flux, self.flux_weight),
            low_mid_share: average(self.low_mid_energy, self.held_energy),
        }
    }
}

/// The A-weighting curve of IEC 61672-1 as a power gain, 1 at 1 kHz. A-weighting rather than
/// BS.1770's K-weighting because it is a closed-form magnitude response, evaluated per bin at
/// any sample rate; K-weighting is specified as filters at 48 kHz.
fn a_weighting_power(hz: f32) -> f32 {
    let f2 = (hz as f64).powi(2);
    let (c1, c2, c3, c4) = (
        20.6f64.powi(2),
        107.7f64.powi(2),
        737.9f64.powi(2),
        12194f64.powi(2),
    );
    let response = c4 * f2 * f2 / ((f2 + c1) * ((f2 + c2) * (f2 + c3)).sqrt() * (f2 + c4));
    // +2.00 dB makes the gain 1 at 1 kHz.
    (response * 10f64.powf(2.0 / 20.0)).powi(2) as f32
}

fn mean_square(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / samples.len() as f64
}

fn db_to_amplitude(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

fn amplitude_db(amplitude: f32) -> f32 {
    power_db((amplitude as f64).powi(2))
}

fn power_db(power: f64) -> f32 {
    if power > 0.0 {
        ((10.0 * power.log10()) as f32).max(FLOOR_DB)
    } else {
        FLOOR_DB
    }
}

#[cfg(test)]
mod tests {
    use std::f32::consts::TAU;

    use super::*;

    const RATE: f32 = 48_000.0;

    fn seconds(s: f32) -> usize {
        (s * RATE) as usize
    }

    /// A phase-continuous sine whose frequency and amplitude follow `hz` and `gain` per sample.
    fn tone(len: usize, hz: impl Fn(usize) -> f32, gain: impl Fn(usize) -> f32) -> Vec<f32> {
        let mut phase = 0.0f32;
        (0..len)
            .map(|n| {
                let sample = gain(n) * phase.sin();
                phase = (phase + TAU * hz(n) / RATE) % TAU;
                sample
            })
            .collect()
    }

    fn sine(hz: f32, len: usize) -> Vec<f32> {
        tone(len, |_| hz, |_| 0.5)
    }

    fn white_noise(len: usize) -> Vec<f32> {
        let mut state = 0x9E37_79B9u32;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as f32 / u32::MAX as f32 - 0.5
            })
            .collect()
    }

    fn close(actual: f32, expected: f32, tolerance: f32) -> bool {
        (actual - expected).abs() <= tolerance * expected.abs()
    }

    #[test]
    fn sine_levels_centroid_and_crest() {
        for hz in [1000.0, 5000.0] {
            let f = Features::measure(&sine(hz, seconds(0.5)), RATE, None);
            assert!(
                close(f.centroid_hz, hz, 0.02),
                "{hz} Hz: centroid {}",
                f.centroid_hz
            );
            assert!(
                close(f.rolloff_hz, hz, 0.03),
                "{hz} Hz: rolloff {}",
                f.rolloff_hz
            );
            // Amplitude 0.5: RMS 0.354, -9.03 dBFS.
            assert!((f.rms_db + 9.03).abs() < 0.05, "rms {}", f.rms_db);
            assert!((f.peak_db + 6.02).abs() < 0.05, "peak {}", f.peak_db);
            assert!((f.crest_db - 3.01).abs() < 0.1, "crest {}", f.crest_db);
        }
    }

    #[test]
    fn loudness_is_a_weighted() {
        let at_1k = Features::measure(&sine(1000.0, seconds(0.3)), RATE, None);
        assert!((at_1k.loudness_db - at_1k.rms_db).abs() < 0.1, "{at_1k:?}");
        // A-weighting is -19.1 dB at 100 Hz.
        let at_100 = Features::measure(&sine(100.0, seconds(0.3)), RATE, None);
        let weighting = at_100.loudness_db - at_100.rms_db;
        assert!(
            (weighting + 19.1).abs() < 0.5,
            "weighting at 100 Hz: {weighting}"
        );
    }

    #[test]
    fn noise_is_flat_and_a_sine_is_not() {
        let noise = Features::measure(&white_noise(seconds(0.5)), RATE, None);
        assert!(noise.flatness > 0.5, "noise flatness {}", noise.flatness);
        let sine = Features::measure(&sine(440.0, seconds(0.5)), RATE, None);
        assert!(sine.flatness < 0.05, "sine flatness {}", sine.flatness);
        assert_eq!(noise.f0_hz, 0.0, "noise is unvoiced");
    }

    #[test]
    fn saw_fundamental_by_yin() {
        let saw: Vec<f32> = (0..seconds(0.5))
            .map(|n| 0.5 * (2.0 * (n as f32 * 220.0 / RATE).fract() - 1.0))
            .collect();
        let f = Features::measure(&saw, RATE, None);
        assert!(close(f.f0_hz, 220.0, 0.01), "f0 {}", f.f0_hz);
        let high = Features::measure(&sine(1500.0, seconds(0.3)), RATE, None);
        assert!(close(high.f0_hz, 1500.0, 0.01), "f0 {}", high.f0_hz);
    }

    #[test]
    fn linear_fade_in_attack() {
        let attack = |fade: f32| {
            let ramp = seconds(fade) as f32;
            let audio = tone(seconds(0.4), |_| 440.0, |n| (n as f32 / ramp).min(1.0));
            Features::measure(&audio, RATE, None).attack_s
        };
        // From -40 dB to -3 dB of a linear ramp: 0.708 - 0.01 of its length.
        let expected = 0.1 * (db_to_amplitude(ATTACK_END_DB) - db_to_amplitude(SILENCE_DB));
        let slow = attack(0.1);
        assert!(
            close(slow, expected, 0.05),
            "attack {slow}, expected {expected}"
        );
        let fast = attack(0.02);
        assert!(close(fast, expected / 5.0, 0.2), "attack {fast}");
    }

    #[test]
    fn a_swell_has_the_crest_of_the_tone_it_reaches() {
        let ramp = seconds(0.3) as f32;
        let swell = tone(seconds(0.6), |_| 440.0, |n| (n as f32 / ramp).min(1.0));
        let f = Features::measure(&swell, RATE, None);
        assert!((f.crest_db - 3.01).abs() < 0.4, "crest {}", f.crest_db);
        // A decaying tone keeps its peak in the part that counts.
        let hit = tone(
            seconds(0.6),
            |_| 440.0,
            |n| (-(n as f32) / RATE / 0.1).exp(),
        );
        let f = Features::measure(&hit, RATE, None);
        assert!(f.crest_db > 8.0, "crest {}", f.crest_db);
    }

    #[test]
    fn flatness_counts_empty_bins_at_the_floor() {
        // A windowed constant fills two bins; the rest hold only the FFT's rounding, far
        // below the floor, so the flatness is the floor's (about 1e-10), not the rounding's.
        let constant = vec![0.5f32; seconds(0.5)];
        let flatness = Features::measure(&constant, RATE, None).flatness as f64;
        assert!(
            (0.5 * FLATNESS_FLOOR..10.0 * FLATNESS_FLOOR).contains(&flatness),
            "flatness {flatness:e}"
        );
    }

    #[test]
    fn exponential_decay_time() {
        let tau = 0.1f32;
        let audio = tone(
            seconds(0.8),
            |_| 1000.0,
            |n| (-(n as f32) / RATE / tau).exp(),
        );
        let f = Features::measure(&audio, RATE, None);
        // e^(-t/tau) is 20 dB (a factor 10) down at t = tau ln 10.
        let expected = tau * 10f32.ln();
        assert!(
            close(f.decay_s, expected, 0.03),
            "decay {}, expected {expected}",
            f.decay_s
        );
        assert!(f.attack_s < 0.005, "attack {}", f.attack_s);
        assert_eq!(f.tail_s, 0.0, "no note-off, no tail");
    }

    #[test]
    fn release_tail_after_note_off() {
        let (off, tau) = (0.3f32, 0.05f32);
        let envelope = |n: usize| {
            let t = n as f32 / RATE;
            if t < off {
                1.0
            } else {
                (-(t - off) / tau).exp()
            }
        };
        let audio = tone(seconds(0.8), |_| 440.0, envelope);
        let f = Features::measure(&audio, RATE, Some(off as f64));
        // 40 dB (a factor 100) below the held level at tau ln 100.
        let expected = tau * 100f32.ln();
        assert!(
            close(f.tail_s, expected, 0.05),
            "tail {}, expected {expected}",
            f.tail_s
        );
        // The release does not count as held: the held part is a steady sine.
        assert!((f.crest_db - 3.01).abs() < 0.1, "crest {}", f.crest_db);
        let late = Features::measure(&audio, RATE, Some(0.79));
        assert_eq!(late.tail_s, 0.0, "already silent at note-off");
    }

    #[test]
    fn low_mid_share() {
        let warm = Features::measure(&sine(300.0, seconds(0.3)), RATE, None);
        assert!(warm.low_mid_share > 0.9, "300 Hz: {}", warm.low_mid_share);
        let bright = Features::measure(&sine(3000.0, seconds(0.3)), RATE, None);
        assert!(
            bright.low_mid_share < 0.05,
            "3 kHz: {}",
            bright.low_mid_share
        );
    }

    #[test]
    fn flux_grows_when_the_spectrum_changes() {
        let steady = Features::measure(&sine(440.0, seconds(0.6)), RATE, None);
        let notes = [440.0, 660.0, 550.0, 880.0, 330.0];
        let jumping = tone(
            seconds(0.6),
            |n| notes[(n / seconds(0.05)) % notes.len()],
            |_| 0.5,
        );
        let moving = Features::measure(&jumping, RATE, None);
        assert!(
            steady.flux * 10.0 < moving.flux,
            "steady {} vs jumping {}",
            steady.flux,
            moving.flux
        );
        // Level alone is not change: a steady sine fading out is still steady.
        let fading = tone(
            seconds(0.6),
            |_| 440.0,
            |n| 1.0 - n as f32 / seconds(0.6) as f32,
        );
        let fade = Features::measure(&fading, RATE, None);
        assert!(fade.flux * 10.0 < moving.flux, "fading {}", fade.flux);
    }

    #[test]
    fn empty_and_silent_audio_measure_as_silent() {
        assert_eq!(Features::measure(&[], RATE, None), Features::SILENT);
        assert_eq!(
            Features::measure(&[0.0; 1000], RATE, Some(0.01)),
            Features::SILENT
        );
        assert_eq!(Features::measure(&[0.5; 10], 0.0, None), Features::SILENT);
        let mut analyzer = Analyzer::new();
        for note_off in [None, Some(-1.0), Some(0.0), Some(1e9), Some(f64::NAN)] {
            for audio in [vec![0.3], vec![0.0, 0.0, 1.0], sine(440.0, 100)] {
                let f = analyzer.measure(&audio, RATE, note_off);
                for name in FEATURE_NAMES {
                    let value = f.get(name).unwrap();
                    assert!(
                        value.is_finite(),
                        "{name} = {value} for {audio:?}, {note_off:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn analyzer_reuse_matches_a_fresh_measurement() {
        let mut analyzer = Analyzer::new();
        let audio = sine(440.0, seconds(0.2));
        analyzer.measure(&white_noise(seconds(0.2)), 44_100.0, Some(0.1));
        assert_eq!(
            analyzer.measure(&audio, RATE, Some(0.15)),
            Features::measure(&audio, RATE, Some(0.15))
        );
    }

    #[test]
    fn without_pitch_every_other_descriptor_is_the_same() {
        let saw: Vec<f32> = (0..seconds(0.5))
            .map(|n| 0.5 * (2.0 * (n as f32 * 220.0 / RATE).fract() - 1.0))
            .collect();
        let full = Features::measure(&saw, RATE, Some(0.4));
        let timbre = Analyzer::without_pitch().measure(&saw, RATE, Some(0.4));
        assert!(full.f0_hz > 200.0, "the full measure has the pitch");
        assert_eq!(timbre.f0_hz, 0.0);
        assert_eq!(timbre, Features { f0_hz: 0.0, ..full });
    }

    #[test]
    fn names_map_to_distinct_fields() {
        let f = Features {
            rms_db: 1.0,
            loudness_db: 2.0,
            peak_db: 3.0,
            crest_db: 4.0,
            centroid_hz: 5.0,
            rolloff_hz: 6.0,
            flatness: 7.0,
            flux: 8.0,
            low_mid_share: 9.0,
            attack_s: 10.0,
            decay_s: 11.0,
            tail_s: 12.0,
            f0_hz: 13.0,
            level_lufs: 14.0,
        };
        for (i, name) in FEATURE_NAMES.iter().enumerate() {
            assert_eq!(f.get(name), Some(i as f32 + 1.0), "{name}");
        }
        assert_eq!(f.get("brightness"), None);
    }
}
