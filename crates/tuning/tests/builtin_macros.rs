//! Every built-in patch's six macros do what they say on the standard calibration probe
//! (docs/MACROS.md): what `mephisto macros --all` prints, as a test, so a new or changed
//! built-in cannot ship a macro that fails.

use mephisto_dsp::builtin_patches;
use mephisto_patch::{BuildSpec, PatchSpec};
use mephisto_tuning::calibration::calibrate;

#[test]
fn every_builtin_patch_passes_all_six_macros() {
    let mut failing = Vec::new();
    for (index, patch) in builtin_patches().iter().enumerate() {
        let spec = PatchSpec::from_builtin(index).unwrap();
        let report = calibrate(&|| {
            spec.instantiate_builtin(1, 48_000.0)
                .expect("a built-in's program")
        })
        .unwrap_or_else(|e| panic!("{}: {e}", patch.name));
        for row in &report.rows {
            if let Some(why) = row.failure() {
                failing.push(format!("{} {}: {why}", patch.name, row.m.display_name()));
            }
        }
    }
    assert!(failing.is_empty(), "{failing:#?}");
}
