//! Everything that runs on the audio thread: the engine (notes, voices, crossfaded patch
//! swaps, the host's bypass, the safety limiter), patch instances as the audio thread plays them, the rings that
//! carry instances to and from the worker, the taps the plugin window reads, the audio side
//! of the neural voice, and the DSP that calls into a runtime-compiled library.
//!
//! # Rules
//!
//! Code here that the audio thread calls never allocates, frees, locks, waits, does I/O or
//! logs. Instances are built and configured elsewhere (they arrive as
//! [`instance::Playable`]s) and leave the audio thread through a ring to the worker, which
//! drops them. The one bounded exception is documented where it lives: a neural voice bank
//! waits up to 50 ms for a decoder frame while the host renders offline (a bounce, where
//! nothing is late in real time but everything held is in the file).
//!
//! This crate depends on no crate that compiles, designs, draws or uses the network; the
//! allocation tests (feature `assert_process_allocs`, debug builds) prove the rules for the
//! engine and the neural bank.

pub mod bypass;
pub mod engine;
pub mod foreign;
pub mod fx;
pub mod instance;
pub mod limiter;
pub mod neural;
pub mod swap;
pub mod taps;
#[cfg(test)]
mod test_tone;

/// With `assert_process_allocs` the tests' allocator aborts on any allocation inside
/// `assert_no_alloc` (nice-plug installs the same allocator in the plugin).
#[cfg(all(test, debug_assertions, feature = "assert_process_allocs"))]
#[global_allocator]
static ALLOCATOR: nice_assert_no_alloc::AllocDisabler = nice_assert_no_alloc::AllocDisabler;
