//! The neural voice (DESIGN.md §9; the numbers follow the contract in docs/NEURAL.md, shared
//! with `onnx/`): a DDSP decoder exported to ONNX maps per-frame (f0, loudness) to an
//! amplitude, a harmonic distribution and noise-band magnitudes, and a harmonic-plus-noise
//! synthesiser turns those frames into audio.
//!
//! * [`runtime`] finds and loads ONNX Runtime (no download, no link-time dependency) and
//!   picks the execution provider.
//! * [`model`] reads and checks the sidecar `MODEL.json` next to `MODEL.onnx`.
//! * [`decoder`] runs the ONNX decoder for many voices in one batched call.
//! * [`synth`] is the per-voice harmonic-plus-noise synthesiser of the audio thread.
//! * [`stream`] connects the two in real time: the audio side ([`stream::NeuralVoiceBank`])
//!   sends notes and receives frames through wait-free rings, the worker side
//!   ([`stream::NeuralInference`]) runs the decoder a little ahead of the audio.
//! * [`voices`] makes a model a patch's voices: loading, driving the inference (a thread
//!   live, lockstep offline), model lookup, and the synthesis controls macros move.

pub mod decoder;
pub mod model;
pub mod runtime;
pub mod stream;
pub mod synth;
pub mod voices;

/// Harmonics per frame, fixed by the contract.
pub const HARMONICS: usize = 60;

/// Noise bands per frame, fixed by the contract: linearly spaced from 0 Hz to the model's
/// Nyquist frequency, band `k` centred on `k * nyquist / 64`.
pub const NOISE_BANDS: usize = 65;

/// One frame of synthesiser controls: what the decoder says about one voice at one instant,
/// plus the pitch the voice plays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Controls {
    /// The voice's fundamental, in Hz.
    pub f0_hz: f32,
    /// Overall linear amplitude of the harmonic part.
    pub amplitude: f32,
    /// Weights of harmonics 1..=60 (a distribution: they sum to 1).
    pub harmonics: [f32; HARMONICS],
    /// Linear magnitudes of the noise bands.
    pub noise: [f32; NOISE_BANDS],
}

impl Controls {
    /// A silent frame at `f0_hz`.
    pub const fn silent(f0_hz: f32) -> Self {
        Controls {
            f0_hz,
            amplitude: 0.0,
            harmonics: [0.0; HARMONICS],
            noise: [0.0; NOISE_BANDS],
        }
    }
}
