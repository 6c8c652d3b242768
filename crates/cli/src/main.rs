//! The `mephisto` command-line tool: list the built-in patches, design patches from words,
//! compile Faust programs through the runtime compiler and its sanity gate, render built-in
//! patches and compiled programs offline, score the designer on a prompt suite, calibrate
//! the semantic macros, match a patch to a reference recording, and measure the engine's CPU
//! cost.

mod design;
mod macros;
mod matching;
mod neural;
mod transfer;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use mephisto_compiler::{limits, CompiledVariant, Compiler, CompilerOptions};
use mephisto_designer::llm::ReplyForm;
use mephisto_dsp::controls::{Control, ControlKind, ControlSet};
use mephisto_dsp::macros::{Macro, MacroValues, NEUTRAL_MACROS};
use mephisto_dsp::{builtin_patches, find_builtin};
use mephisto_patch::effect::{pink_noise, read_wav, render_effect};
use mephisto_patch::render::{
    check_render_length, default_seconds, render_score, write_wav, StereoAudio,
    DEFAULT_TAIL_SECONDS,
};
use mephisto_patch::sanity::{self, ProgramKind, SanityLimits};
use mephisto_patch::score::{default_score, parse_score, ScoreNote};
use mephisto_patch::{BuildSpec, OfflinePatch, PatchSpec};
use mephisto_rt::engine::DEFAULT_VOICES;
use mephisto_rt::instance::PatchInstance;

/// The sample rate used when none is given.
const DEFAULT_RATE: u32 = 48_000;

/// The pink noise an effect program plays when no `--input` is given: fixed, so two renders
/// of one program are identical.
const NOISE_SEED: u64 = 1;

/// The longest `mephisto bench` run per patch, in seconds of audio.
const MAX_BENCH_SECONDS: f64 = 600.0;

/// How long an effect program processes pink noise when no `--seconds` is given.
const DEFAULT_NOISE_SECONDS: f64 = 3.0;

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
    /// Compile a Faust program as the plugin would (screening, faust, rustc, the variant
    /// cache, the sanity gate) and describe the result. The cache is $MEPHISTO_CACHE_DIR,
    /// else ~/.cache/mephisto/variants.
    Compile {
        /// The Faust program (.dsp).
        file: PathBuf,
        /// Sample rate of the sanity gate's probe, in Hz.
        #[arg(long, default_value_t = DEFAULT_RATE)]
        sr: u32,
        /// CPU budget of the sanity gate in percent of one core at 48 kHz, for 16 held voices
        /// (an effect program: one instance).
        #[arg(long, value_name = "PERCENT", default_value_t = 50.0)]
        cpu_budget: f32,
    },
    /// Render a patch offline to a 32-bit float stereo WAV file.
    Render {
        /// A built-in patch name (see `mephisto list`), a PatchSpec (FILE.json), a Faust
        /// program (FILE.dsp) or a neural model (MODEL.onnx, with MODEL.json beside it). A
        /// program with audio inputs is an effect: it processes pink noise or --input.
        #[arg(long)]
        patch: String,
        /// Comma-separated NOTE:SECONDS[@START][*VELOCITY], e.g. "C3:1,E3:1@0.5*0.4" (default: C3
        /// for 1 s; velocity 0..1, default 0.8).
        #[arg(long)]
        notes: Option<String>,
        /// A WAV file for an effect program to process (default: pink noise).
        #[arg(long, value_name = "FILE.wav")]
        input: Option<PathBuf>,
        /// Total length in seconds (default: the score plus a 2 s tail, at least 3 s; for an
        /// effect program, its input (3 s of pink noise unless --input) plus a 2 s tail).
        #[arg(long)]
        seconds: Option<f64>,
        /// A macro value, e.g. --macro bright=0.8 (repeatable; 0.5 is the patch as designed).
        #[arg(long = "macro", value_name = "NAME=VALUE")]
        macros: Vec<String>,
        /// Sample rate in Hz (default 48000; with --input, the file's rate).
        #[arg(long)]
        sr: Option<u32>,
        /// Where to write the WAV file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Design a patch from words (the offline designer, or a model with --llm), build it as
    /// the plugin would (compile, sanity gate) and write its PatchSpec.
    Design {
        /// What it should sound like, e.g. "dark detuned bass that growls"; with --from, the
        /// change to make ("warmer", "shorter tail").
        prompt: String,
        /// Refine this PatchSpec instead of designing a new patch.
        #[arg(long, value_name = "CURRENT.json")]
        from: Option<PathBuf>,
        /// Base URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1; without
        /// it the offline designer answers.
        #[arg(long, value_name = "BASE_URL")]
        llm: Option<String>,
        /// The model's name at that endpoint.
        #[arg(long, requires = "llm")]
        model: Option<String>,
        /// The environment variable holding the API key (never the key itself).
        #[arg(long, value_name = "VAR", requires = "llm")]
        api_key_env: Option<String>,
        /// Seconds the model may stay silent in the middle of its answer (default 60).
        #[arg(long, requires = "llm")]
        timeout: Option<f64>,
        /// Seconds the model may take to read the request before its first token (default
        /// 300).
        #[arg(long, requires = "llm")]
        first_token_timeout: Option<f64>,
        /// The model's context size in tokens, when the server does not report it (default
        /// 8192; Ollama is asked to load this much).
        #[arg(long, value_name = "TOKENS", requires = "llm")]
        context: Option<u32>,
        /// The most tokens one answer may have (default 2048; 1024 for a synth graph).
        #[arg(long, value_name = "TOKENS", requires = "llm")]
        max_answer_tokens: Option<u32>,
        /// What the model answers with: auto (a synth graph for small models and contexts),
        /// graph, faust or either.
        #[arg(long, value_parser = parse_form, requires = "llm")]
        form: Option<ReplyForm>,
        /// Where to write the PatchSpec.
        #[arg(long, value_name = "SPEC.json")]
        out: PathBuf,
        /// Also render the default probe (C3 for 1 s in 3 s) to this WAV file.
        #[arg(long, value_name = "OUT.wav")]
        render: Option<PathBuf>,
        /// Write each round's request and the model's answer to DIR/roundN.json.
        #[arg(long, value_name = "DIR", requires = "llm")]
        transcript: Option<PathBuf>,
    },
    /// Score the offline designer on a prompt suite: design and render every prompt,
    /// measure, and check the expected relations.
    Eval {
        /// The suite, e.g. tests/data/prompts.json.
        suite: PathBuf,
        /// Also calibrate every design's macros and report how many pass all six (slow:
        /// seconds per prompt).
        #[arg(long)]
        macros: bool,
        /// Instead of scoring, time each distinct prompt's design job to first sound (design,
        /// level, sanity gate, instance; what `mephisto design` reports) and print the median,
        /// 95th percentile and maximum, wall and CPU.
        #[arg(long, conflicts_with = "macros")]
        first_sound: bool,
    },
    /// Run a monophonic recording through Mephisto FX offline: its pitch and loudness play a
    /// neural model (timbre transfer) or a Faust patch. Writes a stereo float WAV at the
    /// input's rate and length.
    Transfer {
        /// The recording (WAV, any rate; stereo is mixed to mono for tracking).
        #[arg(long, value_name = "IN.wav")]
        input: PathBuf,
        /// A built-in patch name, a shipped model's name, a MODEL.onnx (with MODEL.json
        /// beside it) or a PatchSpec (SPEC.json).
        #[arg(long, value_name = "NAME|MODEL.onnx|SPEC.json")]
        patch: String,
        /// Where to write the WAV file.
        #[arg(long, value_name = "OUT.wav")]
        out: PathBuf,
        /// Octaves to shift the input's pitch by (-4..4).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        octave: i32,
        /// Frames whose pitch confidence is below this are unvoiced (0..1).
        #[arg(long, default_value_t = 0.8)]
        confidence: f32,
        /// Decibels added to the input's loudness before the voice follows it.
        #[arg(
            long,
            value_name = "DB",
            default_value_t = 0.0,
            allow_hyphen_values = true
        )]
        loudness_offset: f32,
        /// 0: only the input, 1: only the voice.
        #[arg(long, default_value_t = 1.0)]
        mix: f32,
        /// A macro value, e.g. --macro bright=0.8 (repeatable).
        #[arg(long = "macro", value_name = "NAME=VALUE")]
        macros: Vec<String>,
    },
    /// Check that each semantic macro moves its descriptor (Bright the centroid, Warm the
    /// low-mid share, …) monotonically and audibly; prints a Markdown table per patch.
    Macros {
        /// A built-in patch name (see `mephisto list`) or a PatchSpec (FILE.json).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        patch: Option<String>,
        /// Every built-in patch.
        #[arg(long)]
        all: bool,
        /// Also print every macro's whole sweep (the descriptor at 0, 0.125, …, 1).
        #[arg(long)]
        sweeps: bool,
    },
    /// Tune a patch's parameters so that its probe (C3 held 1 s, as long as the reference)
    /// sounds like a reference WAV file: a coordinate sweep, then Nelder–Mead on the
    /// normalised parameter positions, minimising the multi-scale spectral loss; writes the
    /// tuned PatchSpec.
    Match {
        /// A built-in patch name (see `mephisto list`) or a PatchSpec (FILE.json): the start.
        #[arg(long)]
        patch: String,
        /// The reference recording; the probe is rendered at its sample rate and length.
        #[arg(long, value_name = "REF.wav")]
        target: PathBuf,
        /// Where to write the tuned PatchSpec.
        #[arg(long, value_name = "SPEC.json")]
        out: PathBuf,
        /// The most probe renders the search may spend.
        #[arg(long, default_value_t = 300)]
        budget: usize,
        /// Seconds of the probe the search compares (default: all of it); the reported
        /// losses are always on the whole probe.
        #[arg(long, value_name = "SECONDS")]
        search_seconds: Option<f64>,
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
    /// Measure the neural voice: decoder latency on the CPU for 1 and 16 voices, and the
    /// note-on to first-frame latency of the real-time path; prints a Markdown table.
    BenchNeural {
        /// The model (default: the first in onnx/models).
        #[arg(long, value_name = "MODEL.onnx")]
        model: Option<PathBuf>,
        /// The ONNX Runtime library (default: ORT_DYLIB_PATH, beside the binary, the venv).
        #[arg(long, value_name = "LIBRARY")]
        onnxruntime: Option<PathBuf>,
        /// Timed decoder calls per voice count.
        #[arg(long, default_value_t = 2000)]
        calls: usize,
        /// Timed note-ons.
        #[arg(long, default_value_t = 200)]
        notes: usize,
    },
}

/// `--form`: what the model answers with.
fn parse_form(text: &str) -> Result<ReplyForm, String> {
    serde_json::from_value(serde_json::Value::String(text.to_ascii_lowercase()))
        .map_err(|_| format!("`{text}` is not a form: auto, graph, faust or either"))
}

fn main() -> ExitCode {
    // Ctrl-C (or a SIGTERM) stops `faust` and `rustc` with the command.
    mephisto_compiler::kill_children_on_interrupt();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // One `error:` line; a refusal's further reasons follow, indented.
            eprintln!("error: {}", message.replace('\n', "\n       "));
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
        Command::Compile {
            file,
            sr,
            cpu_budget,
        } => compile(&file, sr, cpu_budget),
        Command::Render {
            patch,
            notes,
            input,
            seconds,
            macros,
            sr,
            out,
        } => {
            let macros = parse_macros(&macros)?;
            if let Some(s) = seconds {
                if !(s > 0.0 && s <= 3600.0) {
                    return Err(format!("--seconds {s} must be between 0 and 3600"));
                }
            }
            if let Some(sr) = sr {
                check_rate(sr)?;
            }
            let rendered = if patch.ends_with(".dsp") {
                render_program(Path::new(&patch), notes, input, seconds, macros, sr)?
            } else {
                if input.is_some() {
                    return Err(format!(
                        "--input feeds effect programs; `{patch}` is an instrument"
                    ));
                }
                let score = parse_notes(notes)?;
                let sr = sr.unwrap_or(DEFAULT_RATE);
                let seconds = seconds.unwrap_or_else(|| default_seconds(&score));
                check_render_length(seconds, sr)?;
                let instance = if patch.ends_with(".json") {
                    load_spec(Path::new(&patch), sr as f32)?
                } else if patch.ends_with(".onnx") {
                    load_model(&patch, sr as f32)?
                } else {
                    load_builtin(&patch, sr as f32)?
                };
                render_score(instance, &score, macros, seconds, sr)
            };
            write_wav(&out, &rendered)?;
            println!(
                "wrote {} ({} s, {} Hz, stereo float)",
                out.display(),
                rendered.left.len() as f64 / rendered.sample_rate as f64,
                rendered.sample_rate
            );
            Ok(())
        }
        Command::Design {
            prompt,
            from,
            llm,
            model,
            api_key_env,
            timeout,
            first_token_timeout,
            context,
            max_answer_tokens,
            form,
            out,
            render,
            transcript,
        } => design::design(design::DesignArgs {
            prompt,
            from,
            llm: llm.map(|base_url| design::LlmArgs {
                base_url,
                model,
                api_key_env,
                timeout,
                first_token_timeout,
                context,
                max_answer_tokens,
                form,
            }),
            out,
            render,
            transcript,
        }),
        Command::Eval {
            suite,
            first_sound: true,
            ..
        } => design::first_sound(&suite),
        Command::Eval { suite, macros, .. } => design::eval(&suite, macros),
        Command::Transfer {
            input,
            patch,
            out,
            octave,
            confidence,
            loudness_offset,
            mix,
            macros,
        } => transfer::transfer(transfer::TransferArgs {
            input: &input,
            patch: &patch,
            out: &out,
            octave,
            confidence,
            loudness_offset_db: loudness_offset,
            mix,
            macros: parse_macros(&macros)?,
        }),
        Command::Macros { patch, all, sweeps } => macros::macros(patch.as_deref(), all, sweeps),
        Command::Match {
            patch,
            target,
            out,
            budget,
            search_seconds,
        } => matching::run_match(matching::MatchArgs {
            patch,
            target,
            out,
            budget,
            search_seconds,
        }),
        Command::Bench { voices, seconds } => bench(voices, seconds),
        Command::BenchNeural {
            model,
            onnxruntime,
            calls,
            notes,
        } => neural::bench_neural(neural::BenchNeuralArgs {
            model,
            library: onnxruntime,
            calls,
            notes,
        }),
    }
}

fn check_rate(sr: u32) -> Result<(), String> {
    if (8_000..=384_000).contains(&sr) {
        Ok(())
    } else {
        Err(format!("--sr {sr} must be between 8000 and 384000 Hz"))
    }
}

fn parse_notes(notes: Option<String>) -> Result<Vec<ScoreNote>, String> {
    match notes {
        Some(text) => parse_score(&text),
        None => Ok(default_score()),
    }
}

/// Reads and compiles a Faust program with the default compiler options.
fn compile_file(file: &Path) -> Result<CompiledVariant, String> {
    let source = mephisto_patch::files::read_text(
        file,
        mephisto_compiler::MAX_SOURCE_BYTES as u64,
        "the program",
    )?;
    let compiler = Compiler::new(CompilerOptions::default());
    if let Some(note) = compiler.sandbox_status().note() {
        eprintln!("note: {note}");
    }
    let variant = compiler
        .compile(&source)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    for note in variant.notes() {
        eprintln!("note: {note}");
    }
    Ok(variant)
}

/// `mephisto compile`: everything a patch author needs to know about a compiled program.
fn compile(file: &Path, sr: u32, cpu_budget: f32) -> Result<(), String> {
    check_rate(sr)?;
    if !(cpu_budget > 0.0 && cpu_budget.is_finite()) {
        return Err(format!(
            "--cpu-budget {cpu_budget} must be a positive percentage"
        ));
    }
    let variant = compile_file(file)?;
    let kind = ProgramKind::of(&variant);
    println!(
        "{}: {kind}, {}",
        file.display(),
        if variant.from_cache() {
            "loaded from the variant cache"
        } else {
            "compiled"
        }
    );
    let effect = match variant.new_effect() {
        Some(fx) => format!(
            "yes ({} in / {} out)",
            fx.get_num_inputs(),
            fx.get_num_outputs()
        ),
        None => "no".to_string(),
    };
    println!(
        "channels: process {} in / {} out; shared effect: {effect}",
        variant.voice_inputs(),
        variant.voice_outputs()
    );
    let memory = variant.footprint();
    println!(
        "memory: {} per voice, {} for the effect; {} for {} voices (budget {})",
        limits::bytes(memory.voice),
        limits::bytes(memory.effect),
        limits::bytes(memory.bank()),
        limits::BANK_VOICES,
        limits::bytes(limits::MAX_BANK_BYTES)
    );
    let t = variant.times();
    println!(
        "stages: screen {}, toolchain {}, faust {}, rustc {}, load {}; total {}",
        ms(t.screen),
        ms(t.toolchain),
        ms(t.faust),
        ms(t.rustc),
        ms(t.load),
        ms(t.total())
    );
    print_parameters(&variant)?;
    let limits = SanityLimits {
        cpu_budget: cpu_budget / 100.0,
        ..SanityLimits::default()
    };
    let report = sanity::check_with(&variant, sr as f32, &limits)
        .map_err(|e| format!("{}: refused by the sanity gate: {e}", file.display()))?;
    println!("sanity: {report}");
    Ok(())
}

/// Prints one line per parameter of `process` and `effect`.
fn print_parameters(variant: &CompiledVariant) -> Result<(), String> {
    let voice = ControlSet::of(variant.new_voice().as_ref())?;
    let effect = match variant.new_effect() {
        Some(fx) => ControlSet::of(fx.as_ref()).map_err(|e| format!("effect: {e}"))?,
        None => ControlSet::default(),
    };
    let rows: Vec<(&str, &Control)> = voice
        .controls
        .iter()
        .map(|c| ("process", c))
        .chain(effect.controls.iter().map(|c| ("effect", c)))
        .collect();
    if rows.is_empty() {
        println!("parameters: none");
        return Ok(());
    }
    println!("parameters:");
    let width = rows.iter().map(|(_, c)| c.label.len()).max().unwrap_or(0);
    for (owner, c) in rows {
        println!("  {owner:<7} {:<width$}  {}", c.label, describe_control(c));
    }
    Ok(())
}

/// `slider 20..2000 Hz (log), init 440; macros bright +0.70, warm -0.20`.
fn describe_control(c: &Control) -> String {
    let kind = match c.kind {
        ControlKind::Slider => "slider",
        ControlKind::NumEntry => "entry",
        ControlKind::Button => "button",
        ControlKind::Checkbox => "checkbox",
    };
    let mut text = format!("{kind:<8} {}..{}", c.min, c.max);
    if !c.unit.is_empty() {
        text.push_str(&format!(" {}", c.unit));
    }
    if c.log_scale {
        text.push_str(" (log)");
    }
    if matches!(c.kind, ControlKind::Slider | ControlKind::NumEntry) {
        text.push_str(&format!(", init {}", c.init));
    }
    if !c.macro_depths.is_empty() {
        let depths: Vec<String> = c
            .macro_depths
            .iter()
            .map(|(m, d)| format!("{} {d:+.2}", m.key()))
            .collect();
        text.push_str(&format!("; macros {}", depths.join(", ")));
    }
    text
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Renders a Faust program: an instrument plays the score through the engine, an effect
/// program processes pink noise or `input`.
fn render_program(
    file: &Path,
    notes: Option<String>,
    input: Option<PathBuf>,
    seconds: Option<f64>,
    macros: MacroValues,
    sr: Option<u32>,
) -> Result<StereoAudio, String> {
    let variant = compile_file(file)?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match ProgramKind::of(&variant) {
        ProgramKind::Instrument => {
            if input.is_some() {
                return Err(format!(
                    "--input feeds effect programs; `{}` is an instrument (it has no audio inputs)",
                    file.display()
                ));
            }
            let score = parse_notes(notes)?;
            let sr = sr.unwrap_or(DEFAULT_RATE);
            warn_if_refused(&variant, sr);
            let seconds = seconds.unwrap_or_else(|| default_seconds(&score));
            check_render_length(seconds, sr)?;
            let instance = variant.instantiate(&name, DEFAULT_VOICES, sr as f32)?;
            Ok(render_score(instance, &score, macros, seconds, sr))
        }
        ProgramKind::Effect => {
            if notes.is_some() {
                return Err(format!(
                    "--notes plays instruments; `{}` is an effect program (it has {} audio inputs): it processes pink noise or --input",
                    file.display(),
                    variant.voice_inputs()
                ));
            }
            let source = match input {
                Some(path) => {
                    let audio = read_wav(&path)?;
                    if let Some(sr) = sr.filter(|&sr| sr != audio.sample_rate) {
                        return Err(format!(
                            "`{}` is at {} Hz and --sr asks for {sr} Hz; resampling is not supported (leave out --sr)",
                            path.display(),
                            audio.sample_rate
                        ));
                    }
                    check_rate(audio.sample_rate)?;
                    audio
                }
                None => {
                    let (seconds, sr) = (
                        seconds.unwrap_or(DEFAULT_NOISE_SECONDS),
                        sr.unwrap_or(DEFAULT_RATE),
                    );
                    check_render_length(seconds, sr)?;
                    pink_noise(seconds, sr, NOISE_SEED)
                }
            };
            warn_if_refused(&variant, source.sample_rate);
            let input_seconds = source.left.len() as f64 / source.sample_rate as f64;
            let seconds = seconds.unwrap_or(input_seconds + DEFAULT_TAIL_SECONDS);
            check_render_length(seconds, source.sample_rate)?;
            render_effect(&variant, &source, macros, seconds)
        }
    }
}

/// The CLI renders programs the plugin would refuse (to hear what is wrong), but says so.
fn warn_if_refused(variant: &CompiledVariant, sr: u32) {
    if let Err(e) = sanity::check(variant, sr as f32) {
        eprintln!("warning: the plugin's sanity gate would refuse this patch: {e}");
    }
}

/// Prints a Markdown table of render speed per built-in patch (for docs/BENCHMARKS.md).
fn bench(voices: usize, seconds: f64) -> Result<(), String> {
    let sr = DEFAULT_RATE;
    let max_voices = mephisto_patch::spec::MAX_VOICES as usize;
    if !(1..=max_voices).contains(&voices) {
        return Err(format!(
            "--voices {voices} must be between 1 and {max_voices}"
        ));
    }
    if !(seconds > 0.0 && seconds <= MAX_BENCH_SECONDS) {
        return Err(format!(
            "--seconds {seconds} must be between 0 and {MAX_BENCH_SECONDS} (seconds of audio per patch)"
        ));
    }
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

/// The PatchSpec a `--patch` argument names: a built-in patch's name, a SPEC.json file or a
/// neural MODEL.onnx.
fn load_patch_spec(patch: &str) -> Result<PatchSpec, String> {
    if patch.ends_with(".json") {
        PatchSpec::from_file(Path::new(patch))
    } else if patch.ends_with(".onnx") {
        PatchSpec::from_model(patch)
    } else {
        let (index, _) = find_builtin(patch).ok_or_else(|| {
            format!("unknown patch `{patch}` (run `mephisto list` to see the built-in patches, or give a SPEC.json)")
        })?;
        PatchSpec::from_builtin(index)
    }
}

/// Reads and validates a PatchSpec file and makes an instance of it: from the compiled-in
/// DSP when its program is a built-in's, else through the runtime compiler.
fn load_spec(path: &Path, sample_rate: f32) -> Result<OfflinePatch, String> {
    let spec = PatchSpec::from_file(path)?;
    spec.program(&Compiler::new(CompilerOptions::default()))
        .and_then(|program| program.instantiate(&spec, DEFAULT_VOICES, sample_rate))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A neural model as a patch, its decoder stepped in lockstep with the render so the same
/// command gives the same samples.
fn load_model(model: &str, sample_rate: f32) -> Result<OfflinePatch, String> {
    let spec = PatchSpec::from_model(model)?;
    spec.program(&Compiler::new(CompilerOptions::default()))
        .and_then(|program| program.instantiate(&spec, DEFAULT_VOICES, sample_rate))
        .map_err(|e| format!("{model}: {e}"))
}

fn load_builtin(name: &str, sample_rate: f32) -> Result<OfflinePatch, String> {
    let (index, _) = find_builtin(name).ok_or_else(|| {
        format!(
            "unknown patch `{name}` (run `mephisto list` to see the built-in patches, or give a FILE.dsp)"
        )
    })?;
    PatchInstance::builtin(index, DEFAULT_VOICES, sample_rate).map(OfflinePatch::from)
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
