//! `mephisto macros`: calibrates a patch's semantic macros (see `mephisto::calibration`) and
//! prints one Markdown table per patch.

use std::path::Path;

use mephisto::calibration::{calibrate, CalibrationReport, Probe};
use mephisto::compiler::{Compiler, CompilerOptions};
use mephisto::dsp::{builtin_patches, find_builtin};
use mephisto::engine::instance::PatchInstance;
use mephisto::macros::Macro;
use mephisto::patchspec::PatchSpec;

/// One voice is enough: the probe plays its notes one at a time.
const VOICES: usize = 1;

/// `mephisto macros --patch NAME|SPEC.json` or `mephisto macros --all`.
pub fn macros(patch: Option<&str>, all: bool) -> Result<(), String> {
    let sr = Probe::standard().sample_rate as f32;
    let mut reports = Vec::new();
    if all {
        for (index, p) in builtin_patches().iter().enumerate() {
            let report = calibrate(&|| PatchInstance::builtin(index, VOICES, sr))
                .map_err(|e| format!("{}: {e}", p.name))?;
            print_report(p.name, &report);
            reports.push(report);
        }
    } else {
        let patch = patch.ok_or("give --patch NAME|SPEC.json or --all")?;
        let report = if patch.ends_with(".json") {
            calibrate_spec(Path::new(patch), sr)?
        } else {
            let (index, _) = find_builtin(patch).ok_or_else(|| {
                format!("unknown patch `{patch}` (run `mephisto list` to see the built-in patches, or give a SPEC.json)")
            })?;
            calibrate(&|| PatchInstance::builtin(index, VOICES, sr))?
        };
        print_report(patch, &report);
        reports.push(report);
    }
    if reports.len() > 1 {
        let passed: usize = reports.iter().map(CalibrationReport::passed).sum();
        let seconds: f64 = reports.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        println!(
            "all patches: {passed}/{} macros pass; {:.1} s per patch on average",
            reports.len() * Macro::COUNT,
            seconds / reports.len() as f64
        );
    }
    Ok(())
}

/// Calibrates a PatchSpec file: from the compiled-in DSP when its program is a built-in's,
/// else compiled once by the runtime compiler.
fn calibrate_spec(path: &Path, sr: f32) -> Result<CalibrationReport, String> {
    let spec = PatchSpec::from_file(path)?;
    let in_file = |e: String| format!("{}: {e}", path.display());
    if spec.builtin_index().is_some() {
        let make = || {
            spec.instantiate_builtin(VOICES, sr)
                .expect("the program is a built-in's")
        };
        return calibrate(&make).map_err(in_file);
    }
    spec.validate().map_err(|e| in_file(e.to_string()))?;
    let variant = Compiler::new(CompilerOptions::default())
        .compile(&spec.faust)
        .map_err(|e| in_file(format!("`faust`: {e}")))?;
    let make = || {
        let mut instance = variant.instantiate(&spec.name, VOICES, sr)?;
        spec.apply_to(&mut instance)?;
        Ok(instance)
    };
    calibrate(&make).map_err(in_file)
}

fn print_report(name: &str, report: &CalibrationReport) {
    println!("### {name}\n");
    print!("{}", report.markdown_table());
    println!(
        "\n{}/{} pass ({:.1} s)\n",
        report.passed(),
        Macro::COUNT,
        report.elapsed.as_secs_f64()
    );
}
