//! `mephisto macros`: calibrates a patch's semantic macros (see `mephisto_tuning::calibration`) and
//! prints one Markdown table per patch.

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_dsp::builtin_patches;
use mephisto_dsp::macros::Macro;
use mephisto_patch::probe::Probe;
use mephisto_patch::{BuildError, BuildSpec, OfflinePatch};
use mephisto_rt::instance::PatchInstance;
use mephisto_tuning::calibration::{calibrate, CalibrationReport};

/// One voice is enough: the probe plays its notes one at a time.
const VOICES: usize = 1;

/// `mephisto macros --patch NAME|SPEC.json` or `mephisto macros --all`; `sweeps` adds every
/// macro's whole sweep under its table.
pub fn macros(patch: Option<&str>, all: bool, sweeps: bool) -> Result<(), String> {
    let sr = Probe::calibration().sample_rate as f32;
    let mut reports = Vec::new();
    if all {
        for (index, p) in builtin_patches().iter().enumerate() {
            let report = calibrate(&|| {
                PatchInstance::builtin(index, VOICES, sr)
                    .map(OfflinePatch::from)
                    .map_err(BuildError::Instance)
            })
            .map_err(|e| format!("{}: {e}", p.name))?;
            print_report(p.name, &report, sweeps);
            reports.push(report);
        }
    } else {
        let patch = patch.ok_or("give --patch NAME|SPEC.json or --all")?;
        let spec = crate::load_patch_spec(patch)?;
        let program = spec
            .program(&Compiler::new(CompilerOptions::default()))
            .map_err(|e| format!("{patch}: {e}"))?;
        let report = calibrate(&|| program.instantiate(&spec, VOICES, sr))
            .map_err(|e| format!("{patch}: {e}"))?;
        print_report(patch, &report, sweeps);
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

fn print_report(name: &str, report: &CalibrationReport, sweeps: bool) {
    println!("### {name}\n");
    print!("{}", report.markdown_table());
    println!(
        "\n{}/{} pass ({:.1} s)\n",
        report.passed(),
        Macro::COUNT,
        report.elapsed.as_secs_f64()
    );
    if sweeps {
        for row in &report.rows {
            if let Some(sweep) = &row.sweep {
                let values: Vec<String> = sweep
                    .iter()
                    .map(|&v| row.descriptor.format_value(v))
                    .collect();
                println!("{} sweep: {}", row.m.display_name(), values.join(", "));
            }
        }
        println!();
    }
}
