//! Tuning a patch by ear, measured: macro calibration (does each macro move what it says on
//! this patch, and by enough? repair the map where it does not) and matching (move a patch's
//! parameters toward a reference sound on the multi-scale spectral loss).

pub mod calibration;
pub mod matching;
