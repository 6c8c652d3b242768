//! `mephisto transfer`: a recording through Mephisto FX, offline (timbre transfer with a
//! neural model, or a Faust patch following the input's pitch and loudness).

use std::path::Path;
use std::time::Instant;

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_dsp::macros::MacroValues;
use mephisto_patch::effect::read_wav;
use mephisto_patch::render::write_wav;
use mephisto_patch::transfer::{spec_for, transfer_audio, OFFLINE_BLOCK};
use mephisto_rt::fx::follow::FollowSettings;
use mephisto_rt::fx::transfer::{FxControls, Transfer};

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
    let (output, cost) =
        transfer_audio(&input, &spec, &compiler, &controls).map_err(|e| e.to_string())?;
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
    let rate = output.sample_rate as f32;
    let ms = |samples: usize| samples as f64 * 1000.0 / f64::from(rate);
    let (offline, host) = (
        Transfer::latency_for(rate, OFFLINE_BLOCK),
        Transfer::latency_for(rate, 512),
    );
    println!(
        "latency {offline} samples ({:.1} ms) here, in blocks of {OFFLINE_BLOCK}; in a host \
         with 512-sample blocks {host} samples ({:.1} ms)",
        ms(offline),
        ms(host)
    );
    // What a host block of 512 samples costs, as the plugin splits the work.
    let block_seconds = 512.0 / f64::from(output.sample_rate);
    let audio = cost.per_block(cost.audio, 512);
    let decoder = cost.per_block(cost.decoder, 512);
    println!(
        "per 512-sample block: audio thread {audio:.1} µs ({:.2} % of real time), decoder \
         {decoder:.1} µs ({:.2} %)",
        audio * 1e-4 / block_seconds,
        decoder * 1e-4 / block_seconds
    );
    Ok(())
}
