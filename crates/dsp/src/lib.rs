//! Faust-generated DSP: the built-in patches compiled into the plugin (`builtin/`, written by
//! `cargo xtask faust`), the trait-object type the engine plays, control discovery, and the
//! six semantic macros with the one type of a patch's macro map.
//!
//! This crate is the vocabulary every other Mephisto crate shares; it depends on nothing of
//! Mephisto's.

pub mod builtin;
pub mod controllers;
pub mod controls;
pub mod macros;

use faust_types::FaustDsp;

/// One Faust DSP instance (a voice or an effect) as the engine holds it.
pub type DspBox = Box<dyn FaustDsp<T = f32> + Send>;

/// A patch compiled into the plugin from `faust/patches/`.
pub struct BuiltinPatch {
    /// The patch's file stem, e.g. `warm_pad`; what users type on the command line.
    pub name: &'static str,
    /// pad, bass, lead, pluck, keys, bell, organ, strings, drone, metallic, percussion, fx.
    pub archetype: &'static str,
    pub description: &'static str,
    /// The Faust program, kept so it can be shown, edited and sent to a designer.
    pub source: &'static str,
    pub new_voice: fn() -> DspBox,
    /// The `effect` applied once after the voices are summed, when the patch has one.
    pub new_effect: Option<fn() -> DspBox>,
}

/// All built-in patches, in the order of the host's patch selector.
pub fn builtin_patches() -> &'static [BuiltinPatch] {
    &builtin::BUILTIN_PATCHES
}

/// Finds a built-in patch by name, returning its selector index too.
pub fn find_builtin(name: &str) -> Option<(usize, &'static BuiltinPatch)> {
    builtin_patches()
        .iter()
        .enumerate()
        .find(|(_, p)| p.name.eq_ignore_ascii_case(name.trim()))
}
