//! `mephisto transfer`: a recording through Mephisto FX, offline (timbre transfer with a
//! neural model, or a Faust patch following the input's pitch and loudness).

use std::path::Path;
use std::time::Instant;

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_dsp::macros::MacroValues;
use mephisto_patch::effect::read_wav;
use mephisto_patch::render::write_wav;
use mephisto_patch::transfer::{spec_for, transfer_audio};
use mephisto_rt::fx::follow::FollowSettings;
use mephisto_rt::fx::transfer::FxControls;

/// What `mephisto transfer` was asked.
pub struct TransferArgs<'a> {
    pub input: &'a Path,
    pub patch: &'a str,
    pub out: &'a Path,
    pub octave: i32,
    pub confidence: f32,
    pub loudness_offset_db: f32,
    pub mix: f32,
    pub macros: MacroValues,
}

pub fn transfer(args: TransferArgs) -> Result<(), String> {
    if !(-4..=4).contains(&args.octave) {
        return Err(format!("--octave {} must be between -4 and 4", args.octave));
    }
    if !(0.0..=1.0).contains(&args.confidence) || !(0.0..=1.0).contains(&args.mix) {
        return Err("--confidence and --mix must be between 0 and 1".to_string());
    }
    let input = read_wav(args.input)?;
    let spec = spec_for(args.patch)?;
    let controls = FxControls {
        follow: FollowSettings {
            confidence: args.confidence,
            semitones: 12.0 * args.octave as f32,
            loudness_offset_db: args.loudness_offset_db,
        },
        mix: args.mix,
        macros: args.macros,
    };
    let started = Instant::now();
    let compiler = Compiler::new(CompilerOptions::default());
    let output = transfer_audio(&input, &spec, &compiler, &controls).map_err(|e| e.to_string())?;
    write_wav(args.out, &output)?;
    println!(
        "wrote {} ({:.2} s, {} Hz, stereo float): `{}` following {} in {:.2} s",
        args.out.display(),
        output.left.len() as f64 / f64::from(output.sample_rate),
        output.sample_rate,
        spec.name,
        args.input.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
