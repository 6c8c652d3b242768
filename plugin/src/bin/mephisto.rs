//! The `mephisto` command-line tool: list the built-in patches and render them offline.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use mephisto::dsp::{builtin_patches, find_builtin};
use mephisto::engine::instance::PatchInstance;
use mephisto::engine::DEFAULT_VOICES;
use mephisto::macros::{Macro, MacroValues, NEUTRAL_MACROS};
use mephisto::render::{default_seconds, render_score, write_wav};
use mephisto::score::{default_score, parse_score, ScoreNote};

#[derive(Parser)]
#[command(
    name = "mephisto",
    version,
    about = "Mephisto: Faust-powered instrument with an AI sound designer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in patches: name, archetype.
    List,
    /// Render a patch offline to a 32-bit float stereo WAV file.
    Render {
        /// A built-in patch name (see `mephisto list`).
        #[arg(long)]
        patch: String,
        /// Comma-separated NOTE:SECONDS[@START], e.g. "C3:1,E3:1@0.5" (default: C3 for 1 s).
        #[arg(long)]
        notes: Option<String>,
        /// Total length in seconds (default: the score plus a 2 s tail, at least 3 s).
        #[arg(long)]
        seconds: Option<f64>,
        /// A macro value, e.g. --macro bright=0.8 (repeatable; 0.5 is the patch as designed).
        #[arg(long = "macro", value_name = "NAME=VALUE")]
        macros: Vec<String>,
        /// Sample rate in Hz.
        #[arg(long, default_value_t = 48_000)]
        sr: u32,
        /// Where to write the WAV file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure the engine's CPU cost: every built-in patch with all voices held.
    Bench {
        /// Notes held at once.
        #[arg(long, default_value_t = DEFAULT_VOICES)]
        voices: usize,
        /// Seconds of audio rendered per patch.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::List => {
            for p in builtin_patches() {
                println!("{}, {}", p.name, p.archetype);
            }
            Ok(())
        }
        Command::Render {
            patch,
            notes,
            seconds,
            macros,
            sr,
            out,
        } => {
            let score = match notes {
                Some(text) => parse_score(&text)?,
                None => default_score(),
            };
            let macros = parse_macros(&macros)?;
            let seconds = seconds.unwrap_or_else(|| default_seconds(&score));
            if !(seconds > 0.0 && seconds <= 3600.0) {
                return Err(format!("--seconds {seconds} must be between 0 and 3600"));
            }
            if !(8_000..=384_000).contains(&sr) {
                return Err(format!("--sr {sr} must be between 8000 and 384000 Hz"));
            }
            let instance = load_patch(&patch, sr as f32)?;
            let audio = render_score(instance, &score, macros, seconds, sr);
            write_wav(&out, &audio)?;
            println!(
                "wrote {} ({seconds} s, {sr} Hz, stereo float)",
                out.display()
            );
            Ok(())
        }
        Command::Bench { voices, seconds } => bench(voices, seconds),
    }
}

/// Prints a Markdown table of render speed per built-in patch (for docs/BENCHMARKS.md).
fn bench(voices: usize, seconds: f64) -> Result<(), String> {
    let sr = 48_000;
    let chord: Vec<ScoreNote> = (0..voices)
        .map(|i| ScoreNote {
            note: 36 + (i * 5 % 48) as u8,
            start: 0.0,
            duration: seconds,
            velocity: 0.8,
        })
        .collect();
    println!("| patch | voices | audio s | render s | x real time | one core used |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (index, patch) in builtin_patches().iter().enumerate() {
        let instance = PatchInstance::builtin(index, voices.max(1), sr as f32)?;
        let started = Instant::now();
        let audio = render_score(instance, &chord, NEUTRAL_MACROS, seconds, sr);
        let elapsed = started.elapsed().as_secs_f64();
        std::hint::black_box(&audio.left);
        println!(
            "| {} | {voices} | {seconds} | {elapsed:.3} | {:.1} | {:.1}% |",
            patch.name,
            seconds / elapsed,
            100.0 * elapsed / seconds
        );
    }
    Ok(())
}

fn load_patch(name: &str, sample_rate: f32) -> Result<Box<PatchInstance>, String> {
    if name.ends_with(".dsp") || name.ends_with(".json") {
        return Err(format!(
            "`{name}`: rendering Faust files and PatchSpecs needs the runtime compiler, which this build does not have yet; use a built-in patch (`mephisto list`)"
        ));
    }
    let (index, _) = find_builtin(name).ok_or_else(|| {
        format!("unknown patch `{name}` (run `mephisto list` to see the built-in patches)")
    })?;
    PatchInstance::builtin(index, DEFAULT_VOICES, sample_rate)
}

fn parse_macros(args: &[String]) -> Result<MacroValues, String> {
    let mut values = NEUTRAL_MACROS;
    for arg in args {
        let bad = || {
            let names: Vec<&str> = Macro::ALL.iter().map(|m| m.key()).collect();
            format!(
                "bad --macro `{arg}`: expected NAME=VALUE with NAME one of {} and VALUE in 0..1",
                names.join(", ")
            )
        };
        let (name, value) = arg.split_once('=').ok_or_else(bad)?;
        let m = Macro::from_key(name).ok_or_else(bad)?;
        let v: f32 = value.trim().parse().map_err(|_| bad())?;
        if !(0.0..=1.0).contains(&v) {
            return Err(bad());
        }
        values[m.index()] = v;
    }
    Ok(values)
}
