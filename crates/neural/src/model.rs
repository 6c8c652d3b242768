//! The sidecar `MODEL.json` that `onnx/export.py` writes next to `MODEL.onnx`: the frame
//! rate and sizes the decoder was trained with, and the loudness envelope that turns a note
//! (velocity, note-on, note-off) into the loudness contour the decoder needs, since the plugin
//! has no audio to measure at play time.

use std::path::{Path, PathBuf};

use mephisto_rt::neural::graph::{GraphSpec, NodeKind, NodeSpec};
use serde::{Deserialize, Serialize};

use crate::{HARMONICS, NOISE_BANDS};

/// The newest sidecar format this code reads: version 2 is a model with a timbre encoder
/// (a third ONNX input, `z`); version 1 is every other model, with or without a graph.
pub const SIDECAR_VERSION: u32 = 2;

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
    /// The synthesis graph (docs/NEURAL.md §10); none: harmonic + noise, added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphConfig>,
}

/// The sidecar's `"graph"`: processors, the audio edges between them, and the optional
/// timbre encoder. Settings only training uses (`initial_*`, `seed`, `normalize`,
/// `initial_bias`) are not read here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphConfig {
    pub nodes: Vec<NodeConfig>,
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderConfig>,
}

/// One processor of a [`GraphConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeConfig {
    pub name: String,
    /// `harmonic`, `filtered_noise`, `add` or `reverb`.
    pub kind: String,
    #[serde(default)]
    pub inputs: Vec<String>,
    /// `add`: one gain per input (all 1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gains: Option<Vec<f32>>,
    /// `reverb`: the learned impulse response, at `ir_sample_rate` Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ir: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ir_sample_rate: Option<f64>,
    /// `reverb`: the gains of the input and of the convolved input (1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wet: Option<f32>,
}

/// A timbre encoder the model was trained with (DDSP's autoencoder). The plugin has no
/// audio to encode at play time, so it feeds the mean `z` of the training audio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    pub kind: String,
    pub z_dims: usize,
    /// The training audio's mean z, what every frame of every voice is given.
    #[serde(default)]
    pub z_mean: Vec<f32>,
}

impl GraphConfig {
    /// The graph as the audio side plans it; errors name the node and what is missing.
    pub fn spec(&self) -> Result<GraphSpec, String> {
        let nodes = self
            .nodes
            .iter()
            .map(|n| {
                let kind = match n.kind.as_str() {
                    "harmonic" => NodeKind::Harmonic,
                    "filtered_noise" => NodeKind::FilteredNoise,
                    "add" => NodeKind::Add {
                        gains: n.gains.clone().unwrap_or_else(|| vec![1.0; n.inputs.len()]),
                    },
                    "reverb" => {
                        let (Some(ir), Some(rate)) = (&n.ir, n.ir_sample_rate) else {
                            return Err(format!(
                                "node `{}` (reverb) has no learned `ir` and `ir_sample_rate` \
                                 (train.py writes them when it exports the model)",
                                n.name
                            ));
                        };
                        if rate.is_nan() || rate < 1000.0 || ir.iter().any(|x| !x.is_finite()) {
                            return Err(format!(
                                "node `{}` (reverb): `ir_sample_rate` {rate} or its `ir` is not \
                                 a usable impulse response",
                                n.name
                            ));
                        }
                        NodeKind::Reverb {
                            ir: ir.clone(),
                            ir_sample_rate: rate,
                            dry: n.dry.unwrap_or(1.0),
                            wet: n.wet.unwrap_or(1.0),
                        }
                    }
                    other => {
                        return Err(format!(
                            "node `{}` has kind `{other}`; this build plays harmonic, \
                             filtered_noise, add and reverb",
                            n.name
                        ))
                    }
                };
                Ok(NodeSpec {
                    name: n.name.clone(),
                    kind,
                    inputs: n.inputs.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(GraphSpec {
            nodes,
            output: self.output.clone(),
        })
    }
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
        if !(1..=SIDECAR_VERSION).contains(&self.version) {
            return Err(format!(
                "sidecar version {} is not supported (this build reads versions 1 to \
                 {SIDECAR_VERSION})",
                self.version
            ));
        }
        let encoder = self.encoder();
        if self.version == 2 && encoder.is_none() {
            return Err("sidecar version 2 is a model with a timbre encoder, but \
                        `graph.encoder` is missing"
                .to_string());
        }
        if let Some(e) = encoder {
            if self.version < 2 {
                return Err("a model with a timbre encoder needs sidecar version 2".to_string());
            }
            if e.z_dims == 0 || e.z_mean.len() != e.z_dims {
                return Err(format!(
                    "`graph.encoder.z_mean` has {} values for `z_dims` {}",
                    e.z_mean.len(),
                    e.z_dims
                ));
            }
        }
        if let Some(graph) = &self.graph {
            graph
                .spec()
                .and_then(|spec| spec.check())
                .map_err(|e| format!("`graph`: {e}"))?;
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

    /// The timbre encoder the model was trained with, if any.
    pub fn encoder(&self) -> Option<&EncoderConfig> {
        self.graph.as_ref().and_then(|g| g.encoder.as_ref())
    }

    /// The synthesis graph to play: the sidecar's, or harmonic + noise added.
    pub fn graph_spec(&self) -> Result<GraphSpec, String> {
        match &self.graph {
            Some(graph) => graph.spec(),
            None => Ok(GraphSpec::default_graph()),
        }
    }

    /// Whether the model's graph has a learned room (a reverb node).
    pub fn has_room(&self) -> bool {
        self.graph_spec().is_ok_and(|g| g.has_reverb())
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
    fn reads_a_graph_and_an_encoder_and_refuses_bad_ones() {
        let graph = r#", "graph": {"nodes": [
            {"name": "harmonic", "kind": "harmonic", "inputs": [], "normalize": "softmax"},
            {"name": "noise", "kind": "filtered_noise"},
            {"name": "voice", "kind": "add", "inputs": ["harmonic", "noise"], "gains": [1, 0.5]},
            {"name": "room", "kind": "reverb", "inputs": ["voice"], "seed": 0,
             "ir_sample_rate": 16000, "ir": [0, 0.5, 0.25], "dry": 1, "wet": 0.8}],
            "output": "room"}}"#;
        let text = EXAMPLE.trim_end().strip_suffix('}').unwrap().to_string() + graph;
        let info = ModelInfo::parse(&text).unwrap();
        assert!(info.has_room());
        assert!(info.encoder().is_none());
        let spec = info.graph_spec().unwrap();
        assert_eq!(
            spec.nodes[2].kind,
            NodeKind::Add {
                gains: vec![1.0, 0.5]
            }
        );
        assert!(!ModelInfo::parse(EXAMPLE).unwrap().has_room());

        let err = ModelInfo::parse(&text.replace("\"noise\"]", "\"nose\"]")).unwrap_err();
        assert!(err.contains("`graph`") && err.contains("missing"), "{err}");
        let err = ModelInfo::parse(&text.replace("\"reverb\"", "\"chorus\"")).unwrap_err();
        assert!(err.contains("kind `chorus`"), "{err}");

        let encoder = r#", "encoder": {"kind": "mfcc_gru", "z_dims": 2, "z_mean": [0.1, -0.2]}}}"#;
        let with_encoder = text.strip_suffix("}}").unwrap().to_string() + encoder;
        let err = ModelInfo::parse(&with_encoder).unwrap_err();
        assert!(err.contains("version 2"), "{err}");
        let v2 = with_encoder.replace("\"version\":1", "\"version\":2");
        let info = ModelInfo::parse(&v2).unwrap();
        assert_eq!(info.encoder().unwrap().z_mean, vec![0.1, -0.2]);
        let err = ModelInfo::parse(&v2.replace("[0.1, -0.2]", "[0.1]")).unwrap_err();
        assert!(err.contains("z_mean"), "{err}");
        let err = ModelInfo::parse(&EXAMPLE.replace("\"version\":1", "\"version\":2")).unwrap_err();
        assert!(err.contains("encoder"), "{err}");
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
