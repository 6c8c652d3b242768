//! Offline audio analysis: the descriptors the semantic macros are calibrated against
//! (docs/MACROS.md) and prompt evaluation reports, and a spectral loss between two renders.
//! Everything plans its FFTs once and reuses its buffers, so measuring many notes costs only
//! the transforms. Not for the audio thread: the first measurement allocates.

pub mod features;
pub mod loss;
pub mod stft;
pub mod yin;

pub use features::{Analyzer, Features, FEATURE_NAMES};
pub use loss::MultiScaleLoss;
pub use stft::Stft;
pub use yin::{Pitch, Yin};
