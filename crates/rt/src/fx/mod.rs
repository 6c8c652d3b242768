//! Mephisto FX on the audio thread: an input's pitch and loudness drive a patch as a voice
//! (timbre transfer for a neural model, a pitch-and-loudness-following voice for a Faust
//! patch).
//!
//! * [`tracker`] measures the input every few ms: YIN pitch with its confidence, and
//!   loudness, allocation-free.
//! * [`follow`] turns those measurements into what a voice plays: a gate from loudness and
//!   voicing with onsets, the pitch shifted by octaves, the loudness with its offset.
//! * [`transfer`] runs both on a stream and plays the result through a patch instance,
//!   with the input delayed by the same latency for the dry/wet mix.

pub mod follow;
pub mod tracker;
pub mod transfer;
