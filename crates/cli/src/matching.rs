//! `mephisto match`: tunes a patch's parameters so that its probe (C3 held 1 s) sounds like a
//! reference WAV file (see `mephisto_tuning::matching`), with a progress bar on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_patch::effect::read_wav;
use mephisto_patch::{BuildSpec, PatchSpec};
use mephisto_tuning::matching::{match_spec, MatchOptions, MatchResult, Progress};

/// One voice is enough: the probe plays one note.
const VOICES: usize = 1;

/// Characters of the progress bar.
const BAR_WIDTH: usize = 20;

pub struct MatchArgs {
    pub patch: String,
    pub target: PathBuf,
    pub out: PathBuf,
    pub budget: usize,
    pub search_seconds: Option<f64>,
}

/// `mephisto match --patch NAME|SPEC.json --target REF.wav --out SPEC.json`.
pub fn run_match(args: MatchArgs) -> Result<(), String> {
    let reference = read_wav(&args.target)?;
    let sr = reference.sample_rate;
    crate::check_rate(sr)?;
    let target = reference.mono();
    let spec = crate::load_patch_spec(&args.patch)?;
    let file_name = args.target.file_name().map_or_else(
        || args.target.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let options = MatchOptions {
        max_evaluations: args.budget,
        search_seconds: args.search_seconds,
        reference: format!("`{file_name}`"),
        ..MatchOptions::default()
    };
    let mut draw_progress = |p: Progress| draw(&p);
    // Prepared once (compiled when it is not a built-in's): the search changes only the
    // designed values.
    let program = spec.program(&Compiler::new(CompilerOptions::default()))?;
    let make = |s: &PatchSpec| program.instantiate(s, VOICES, sr as f32);
    let result = match_spec(&spec, &target, sr, &options, &make, &mut draw_progress);
    eprintln!();
    let result = result.map_err(|e| format!("{}: {e}", args.patch))?;
    std::fs::write(&args.out, result.spec.to_json_pretty())
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    report(&result, &args.out);
    Ok(())
}

/// `\r[#########...........] 140/300 renders, loss 0.812 (-64 %), 6.1 s`
fn draw(p: &Progress) {
    let filled = (BAR_WIDTH * p.evaluations / p.budget.max(1)).min(BAR_WIDTH);
    let change = if p.initial_loss > 0.0 {
        100.0 * (p.best_loss / p.initial_loss - 1.0)
    } else {
        0.0
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[{}{}] {}/{} renders, loss {:.3} ({change:+.0} %), {:.1} s ",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        p.evaluations,
        p.budget,
        p.best_loss,
        p.elapsed.as_secs_f64()
    );
    let _ = err.flush();
}

fn report(result: &MatchResult, out: &Path) {
    println!(
        "loss {:.4} -> {:.4} ({:.1} % lower) in {} renders, {:.1} s; wrote {}",
        result.initial_loss,
        result.final_loss,
        100.0 * result.reduction(),
        result.evaluations,
        result.elapsed.as_secs_f64(),
        out.display()
    );
    if let Some(p) = result.reached(0.8) {
        println!(
            "80 % of the search loss gone after {} renders, {:.1} s",
            p.evaluations,
            p.elapsed.as_secs_f64()
        );
    }
    for label in &result.parameters {
        if let Some(value) = result.spec.params.get(label) {
            println!("  {label} = {value}");
        }
    }
}
