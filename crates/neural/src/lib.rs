//! The neural voice's inference side (the numbers follow the contract in docs/NEURAL.md,
//! shared with `onnx/`): a DDSP decoder exported to ONNX maps per-frame (f0, loudness) to an
//! amplitude, a harmonic distribution and noise-band magnitudes, which the audio side
//! (`mephisto_rt::neural`) synthesises.
//!
//! * [`bundle`] says where a plugin bundle carries ONNX Runtime and the models.
//! * [`runtime`] finds and loads ONNX Runtime (no download, no link-time dependency) and
//!   picks the execution provider.
//! * [`model`] reads and checks the sidecar `MODEL.json` next to `MODEL.onnx`.
//! * [`decoder`] runs the ONNX decoder for many voices in one batched call.
//! * [`inference`] drives the decoder a little ahead of the audio: on a thread live, in
//!   lockstep offline.
//! * [`voices`] loads a model as a patch's voices and finds shipped models.

pub mod bundle;
pub mod decoder;
pub mod inference;
pub mod model;
pub mod runtime;
pub mod voices;

pub use mephisto_rt::neural::{Controls, HARMONICS, NOISE_BANDS};

/// Why a neural model cannot play, split by what fixes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeuralError {
    /// ONNX Runtime cannot be found, loaded or used: installing it, or the ONNX Runtime
    /// setting, fixes it. The message says where it looked.
    #[error("{0}")]
    Runtime(String),
    /// The model itself (its file, its sidecar, its inputs and outputs) cannot be used.
    #[error("{0}")]
    Model(String),
}
