//! Time per sample of built-in voices as the plugin compiles them: one voice of each patch
//! (or the patches named), note 220 Hz at gain 0.5 held, computed in 64-frame blocks at
//! 48 kHz; the Rust half of `scripts/bench_compare.sh`, whose C++ half
//! (`scripts/bench_compare/voice_speed.cpp`) does exactly the same with Faust's C++ output.
//! `LABEL=VALUE` arguments set other controls first (a patch without that control is an
//! error).
//!
//! cargo run --release -p mephisto-dsp --example voice_speed -- SECONDS [PATCH…] [LABEL=VALUE…]
//! prints `PATCH ns_per_sample` lines.

use std::time::Instant;

use mephisto_dsp::builtin::BUILTIN_PATCHES;
use mephisto_dsp::controls::ControlSet;

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .expect("usage: voice_speed SECONDS [PATCH…]");
    let (settings, only): (Vec<String>, Vec<String>) = args.partition(|a| a.contains('='));
    let settings: Vec<(&str, f32)> = settings
        .iter()
        .map(|s| {
            let (label, value) = s.split_once('=').expect("LABEL=VALUE");
            (label, value.parse().expect("a number after `=`"))
        })
        .collect();
    for patch in BUILTIN_PATCHES.iter() {
        if !only.is_empty() && !only.iter().any(|n| n == patch.name) {
            continue;
        }
        let mut voice = (patch.new_voice)();
        voice.init(48_000);
        let controls = ControlSet::of(voice.as_ref()).expect("a built-in's controls");
        for (label, value) in [("freq", 220.0), ("gain", 0.5), ("gate", 1.0)] {
            if let Some(control) = controls.find(label) {
                voice.set_param(control.param(), value);
            }
        }
        for &(label, value) in &settings {
            let control = controls
                .find(label)
                .unwrap_or_else(|| panic!("{} has no control `{label}`", patch.name));
            voice.set_param(control.param(), value);
        }
        let outputs = voice.get_num_outputs() as usize;
        let mut left = [0.0f32; 64];
        let mut right = [0.0f32; 64];
        let frames = (seconds * 48_000.0) as usize / 64 * 64;
        let mut sink = 0.0f32;
        let start = Instant::now();
        for _ in 0..frames / 64 {
            if outputs == 2 {
                voice.compute(64, &[], &mut [&mut left, &mut right]);
            } else {
                voice.compute(64, &[], &mut [&mut left]);
            }
            sink += left[0];
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / frames as f64;
        // The sum keeps the work from being optimised away.
        println!(
            "{} {ns:.2} {}",
            patch.name,
            if sink.is_nan() { "nan" } else { "ok" }
        );
    }
}
