//! The sidecar `MODEL.json` that `onnx/export.py` writes next to `MODEL.onnx`: the frame
//! rate and sizes the decoder was trained with, and the loudness envelope that turns a note
//! (velocity, note-on, note-off) into the loudness contour the decoder needs, since the plugin
//! has no audio to measure at play time.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{HARMONICS, NOISE_BANDS};

/// The sidecar format this code reads.
pub const SIDECAR_VERSION: u32 = 1;

/// Everything the sidecar says about a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub version: u32,
    pub name: String,
    /// "patch NAME" or "file FILE".
    pub trained_on: String,
    /// The model's audio rate in Hz (16000): its frames and noise bands refer to it.
    pub sample_rate: u32,
    /// Samples of `sample_rate` per frame (320: 20 ms).
    pub hop: u32,
    pub harmonics: usize,
    pub noise_bands: usize,
    /// The pitches the training data covered, in Hz.
    pub f0_range_hz: [f32; 2],
    pub loudness: LoudnessEnvelope,
    /// How well it trained; shown to the user, not used to play.
    #[serde(default)]
    pub quality: Option<Quality>,
}

/// The loudness contour of a note, in dBFS, linear in dB between its points.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoudnessEnvelope {
    /// Peak level at velocity 1.
    pub velocity_1_db: f32,
    /// Peak level near velocity 0.
    pub velocity_0_db: f32,
    pub attack_s: f32,
    pub decay_s: f32,
    /// The sustain level relative to the peak (<= 0 dB).
    pub sustain_db: f32,
    pub release_s: f32,
    /// Silence (-100 dBFS): where attacks start and releases end.
    pub floor_db: f32,
}

/// Losses reported by training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    #[serde(default)]
    pub heldout_loss: Option<f32>,
    #[serde(default)]
    pub sine_loss: Option<f32>,
    #[serde(default)]
    pub ratio: Option<f32>,
}

/// The largest sidecar read.
const MAX_SIDECAR_BYTES: u64 = 1 << 20;

impl ModelInfo {
    /// The sidecar of `model` (`MODEL.onnx` → `MODEL.json`).
    pub fn sidecar_path(model: &Path) -> PathBuf {
        model.with_extension("json")
    }

    /// Reads and checks the sidecar of `model`; errors name the file and what is wrong.
    pub fn load_for(model: &Path) -> Result<Self, String> {
        let path = Self::sidecar_path(model);
        // A sidecar is a few KiB: anything that is not a small regular file (a FIFO would
        // block the worker for ever, a device never end) is refused before it is read.
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                return Err(format!(
                    "the model's sidecar `{}` is not a regular file",
                    path.display()
                ))
            }
            Ok(meta) if meta.len() > MAX_SIDECAR_BYTES => {
                return Err(format!(
                    "the model's sidecar `{}` is {} bytes, more than a sidecar has ({MAX_SIDECAR_BYTES})",
                    path.display(),
                    meta.len()
                ))
            }
            _ => {}
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read the model's sidecar `{}`: {e} (onnx/export.py writes it next to \
                 the .onnx file)",
                path.display()
            )
        })?;
        Self::parse(&text).map_err(|e| format!("`{}`: {e}", path.display()))
    }

    /// Parses and checks sidecar JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let info: ModelInfo = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let at = e.path().to_string();
            if e.inner().is_syntax() || e.inner().is_eof() {
                format!("not valid JSON: {}", e.inner())
            } else if at == "." {
                format!("not a model sidecar: {}", e.inner())
            } else {
                format!("field `{at}`: {}", e.inner())
            }
        })?;
        info.check()?;
        Ok(info)
    }

    fn check(&self) -> Result<(), String> {
        if self.version != SIDECAR_VERSION {
            return Err(format!(
                "sidecar version {} is not supported (this build reads version \
                 {SIDECAR_VERSION})",
                self.version
            ));
        }
        if self.sample_rate < 1000 {
            return Err(format!(
                "`sample_rate` {} Hz is not an audio rate",
                self.sample_rate
            ));
        }
        if self.hop == 0 || self.hop > self.sample_rate {
            return Err(format!(
                "`hop` {} must be between 1 and `sample_rate` samples",
                self.hop
            ));
        }
        if self.harmonics != HARMONICS {
            return Err(format!(
                "`harmonics` is {}; the neural voice plays {HARMONICS}",
                self.harmonics
            ));
        }
        if self.noise_bands != NOISE_BANDS {
            return Err(format!(
                "`noise_bands` is {}; the neural voice plays {NOISE_BANDS}",
                self.noise_bands
            ));
        }
        let [lo, hi] = self.f0_range_hz;
        if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
            return Err(format!("`f0_range_hz` [{lo}, {hi}] is not a pitch range"));
        }
        let l = &self.loudness;
        let times = [
            ("attack_s", l.attack_s),
            ("decay_s", l.decay_s),
            ("release_s", l.release_s),
        ];
        for (name, value) in times {
            if !(0.0..=60.0).contains(&value) {
                return Err(format!(
                    "`loudness.{name}` {value} must be between 0 and 60 s"
                ));
            }
        }
        let levels = [
            ("velocity_1_db", l.velocity_1_db),
            ("velocity_0_db", l.velocity_0_db),
            ("floor_db", l.floor_db),
        ];
        for (name, value) in levels {
            if !(-200.0..=0.0).contains(&value) {
                return Err(format!(
                    "`loudness.{name}` {value} must be a level in dBFS (-200..0)"
                ));
            }
        }
        if !(l.sustain_db <= 0.0 && l.sustain_db.is_finite()) {
            return Err(format!(
                "`loudness.sustain_db` {} must be <= 0 (relative to the peak)",
                l.sustain_db
            ));
        }
        Ok(())
    }

    /// Seconds per frame.
    pub fn frame_seconds(&self) -> f64 {
        f64::from(self.hop) / f64::from(self.sample_rate)
    }

    /// The model's Nyquist frequency: the top noise band sits there.
    pub fn nyquist_hz(&self) -> f32 {
        self.sample_rate as f32 / 2.0
    }
}

impl LoudnessEnvelope {
    /// The peak level of a note at `velocity` (0..=1).
    pub fn peak_db(&self, velocity: f32) -> f32 {
        let v = velocity.clamp(0.0, 1.0);
        self.velocity_0_db + v * (self.velocity_1_db - self.velocity_0_db)
    }

    /// The level `t` seconds after note-on of a note still held: attack from the floor to
    /// the peak, decay to the sustain level, hold.
    fn held_db(&self, peak: f32, t: f64) -> f32 {
        let t = t.max(0.0) as f32;
        if t < self.attack_s {
            self.floor_db + (peak - self.floor_db) * t / self.attack_s
        } else if t < self.attack_s + self.decay_s {
            peak + self.sustain_db * (t - self.attack_s) / self.decay_s
        } else {
            peak + self.sustain_db
        }
    }

    /// The level `t` seconds after note-on, for a note released `released` seconds after
    /// its note-on (if it was): from wherever the held contour was at release, linear in dB
    /// to the floor over `release_s`.
    pub fn level_db(&self, velocity: f32, t: f64, released: Option<f64>) -> f32 {
        let peak = self.peak_db(velocity);
        match released {
            Some(off) if t >= off => {
                let from = self.held_db(peak, off);
                let since = (t - off) as f32;
                if since >= self.release_s {
                    self.floor_db
                } else {
                    from + (self.floor_db - from) * since / self.release_s
                }
            }
            _ => self.held_db(peak, t),
        }
    }

    /// Whether a note released `released` seconds after note-on has reached the floor at `t`.
    pub fn finished(&self, t: f64, released: Option<f64>) -> bool {
        released.is_some_and(|off| t - off >= f64::from(self.release_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"version":1, "name":"test", "trained_on":"patch Pluck",
        "sample_rate":16000, "hop":320, "harmonics":60, "noise_bands":65,
        "f0_range_hz":[40, 2000],
        "loudness": {"velocity_1_db": -6, "velocity_0_db": -40, "attack_s": 0.01,
                     "decay_s": 0.2, "sustain_db": -12, "release_s": 0.3, "floor_db": -100},
        "quality": {"heldout_loss": 1.5, "sine_loss": 3.0, "ratio": 0.5}}"#;

    #[test]
    fn reads_a_sidecar() {
        let info = ModelInfo::parse(EXAMPLE).unwrap();
        assert_eq!(info.hop, 320);
        assert_eq!(info.frame_seconds(), 0.02);
        assert_eq!(info.nyquist_hz(), 8000.0);
        assert_eq!(info.loudness.release_s, 0.3);
    }

    #[test]
    fn a_wrong_field_is_named() {
        let text = EXAMPLE.replace("\"hop\":320", "\"hop\":\"320\"");
        let err = ModelInfo::parse(&text).unwrap_err();
        assert!(err.contains("`hop`"), "{err}");
        let text = EXAMPLE.replace("\"sustain_db\": -12", "\"sustain_db\": 3");
        let err = ModelInfo::parse(&text).unwrap_err();
        assert!(err.contains("sustain_db"), "{err}");
        let err = ModelInfo::parse("garbage").unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
        let err = ModelInfo::parse("42").unwrap_err();
        assert!(err.contains("not a model sidecar"), "{err}");
        let text = EXAMPLE.replace("\"harmonics\":60", "\"harmonics\":100");
        assert!(ModelInfo::parse(&text).unwrap_err().contains("harmonics"));
    }

    #[test]
    fn the_envelope_follows_the_contract() {
        let env = ModelInfo::parse(EXAMPLE).unwrap().loudness;
        let peak = env.peak_db(0.5);
        assert_eq!(peak, -23.0);
        assert_eq!(env.level_db(0.5, 0.0, None), -100.0);
        assert!((env.level_db(0.5, 0.005, None) - (-100.0 + 77.0 / 2.0)).abs() < 1e-3);
        assert!((env.level_db(0.5, 0.01, None) - peak).abs() < 1e-3);
        assert!((env.level_db(0.5, 0.11, None) - (peak - 6.0)).abs() < 1e-3);
        assert_eq!(env.level_db(0.5, 5.0, None), peak - 12.0);
        // Released in the sustain: halfway down the release after 0.15 s.
        let mid = env.level_db(0.5, 1.15, Some(1.0));
        assert!((mid - (peak - 12.0 + (-100.0 - peak + 12.0) / 2.0)).abs() < 1e-3);
        assert_eq!(env.level_db(0.5, 1.3, Some(1.0)), -100.0);
        assert!(env.finished(1.31, Some(1.0)));
        assert!(!env.finished(1.2, Some(1.0)));
    }
}
