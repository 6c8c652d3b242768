//! The compile pipeline: screen → cache lookup → `faust -lang rust` → wrapper crate →
//! `rustc --crate-type cdylib` → load and check, each compiler run under its time limit,
//! with their error messages turned into ones a producer can act on.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::cache::{Cache, Key};
use super::screen::{screen, Screened, MEPHISTO_LIB};
use super::toolchain::{run_limited, Tool};
use super::variant::LoadedVariant;
use super::wrapper::{template_text, wrapper_source, ABI_VERSION};
use super::{CompileError, CompiledVariant, Compiler, Refusal, SourceLine, StageTimes};

/// The project library, compiled into the plugin so runtime patches can import it wherever
/// the plugin is installed.
const MEPHISTO_LIB_SOURCE: &str = include_str!("../../../faust/mephisto.lib");

/// Faust flags shared by the voice and effect runs (the class and process names follow).
const FAUST_FLAGS: &[&str] = &["-lang", "rust"];

/// rustc flags: an optimised `cdylib` that catches panics (the wrapper relies on unwinding),
/// without debug info (smaller, faster to link), with warnings in generated code silenced.
const RUSTC_FLAGS: &[&str] = &[
    "--crate-type",
    "cdylib",
    "--edition",
    "2021",
    "-C",
    "opt-level=3",
    "-C",
    "panic=unwind",
    "-C",
    "debuginfo=0",
    "-C",
    "strip=symbols",
    "--cap-lints",
    "allow",
];

/// The file names inside a build folder; Faust's messages name `PATCH_FILE`.
const PATCH_FILE: &str = "patch.dsp";
const WRAPPER_FILE: &str = "wrapper.rs";

/// Messages longer than this are cut: the first lines carry the cause, and Faust can print
/// a whole expanded expression after them.
const MAX_MESSAGE_LINES: usize = 12;
const MAX_MESSAGE_CHARS: usize = 1500;

pub(super) fn compile(compiler: &Compiler, source: &str) -> Result<CompiledVariant, CompileError> {
    let started = Instant::now();
    let mut times = StageTimes::default();
    let screened = screen(source).map_err(CompileError::Refused)?;
    times.screen = started.elapsed();

    let stage = Instant::now();
    let (faust, rustc) = compiler.tools()?;
    let cache = Cache::open(compiler.options.cache_dir.as_deref())?;
    let key = cache_key(source, &screened, &faust, &rustc);
    times.toolchain = stage.elapsed();

    if let Some(library) = cache.lookup(&key) {
        let stage = Instant::now();
        match LoadedVariant::open(&library) {
            Ok(loaded) => {
                times.load = stage.elapsed();
                return CompiledVariant::new(loaded, true, times, key);
            }
            // An entry that cannot be loaded (written by a build that crashed the machine,
            // or damaged since) is rebuilt rather than reported.
            Err(_) => cache.evict(&key),
        }
    }

    let staging = cache.stage(&key)?;
    let dir = staging.dir();
    let write = |name: &str, text: &str| {
        fs::write(dir.join(name), text).map_err(|e| {
            CompileError::Cache(format!("cannot write `{name}` in `{}`: {e}", dir.display()))
        })
    };
    write(PATCH_FILE, source)?;
    write(MEPHISTO_LIB, MEPHISTO_LIB_SOURCE)?;

    let stage = Instant::now();
    let limit = compiler.options.faust_time_limit;
    let (voice, effect) = std::thread::scope(|scope| {
        let effect = screened
            .defines_effect
            .then(|| scope.spawn(|| run_faust(&faust, dir, "Effect", Some("effect"), limit)));
        let voice = run_faust(&faust, dir, "Voice", None, limit);
        let effect = effect.map(|handle| {
            handle.join().unwrap_or_else(|_| {
                Err(CompileError::faust(
                    "Faust error: the effect's compile thread failed".into(),
                ))
            })
        });
        (voice, effect)
    });
    let voice = voice?;
    let effect = effect.transpose()?;
    times.faust = stage.elapsed();

    let stage = Instant::now();
    write(WRAPPER_FILE, &wrapper_source(&voice, effect.as_deref()))?;
    run_rustc(
        &rustc,
        dir,
        &staging.library(),
        compiler.options.rustc_time_limit,
    )?;
    times.rustc = stage.elapsed();
    // The entry keeps the program and the wrapper (which contains Faust's output) for
    // debugging; the rest is scratch.
    for scratch in ["voice.rs", "effect.rs", MEPHISTO_LIB] {
        let _ = fs::remove_file(dir.join(scratch));
    }

    let stage = Instant::now();
    let library = staging.publish()?;
    let loaded = LoadedVariant::open(&library)?;
    times.load = stage.elapsed();
    CompiledVariant::new(loaded, false, times, key)
}

fn cache_key(source: &str, screened: &Screened, faust: &Tool, rustc: &Tool) -> Key {
    let [prelude, dsp_template] = template_text();
    let abi = ABI_VERSION.to_le_bytes();
    let faust_flags = FAUST_FLAGS.join(" ");
    let rustc_flags = RUSTC_FLAGS.join(" ");
    let library: &[u8] = if screened.uses_mephisto_lib {
        MEPHISTO_LIB_SOURCE.as_bytes()
    } else {
        b""
    };
    Key::new(&[
        ("abi", &abi),
        ("wrapper prelude", prelude.as_bytes()),
        ("wrapper dsp", dsp_template.as_bytes()),
        ("faust version", faust.version.as_bytes()),
        ("rustc version", rustc.version.as_bytes()),
        ("faust flags", faust_flags.as_bytes()),
        ("rustc flags", rustc_flags.as_bytes()),
        ("source", source.as_bytes()),
        (MEPHISTO_LIB, library),
    ])
}

/// Runs Faust's Rust backend on the program in `dir`, for `process` or `process_name`.
fn run_faust(
    faust: &Tool,
    dir: &Path,
    class: &str,
    process_name: Option<&str>,
    limit: Duration,
) -> Result<String, CompileError> {
    let output = format!("{}.rs", class.to_lowercase());
    let mut cmd = Command::new(&faust.path);
    cmd.current_dir(dir)
        .args(FAUST_FLAGS)
        .args(["-cn", class, "-o", &output]);
    if let Some(name) = process_name {
        cmd.args(["-pn", name]);
    }
    cmd.arg(PATCH_FILE);
    let run = run_limited(cmd, "Faust compilation", limit, dir)?;
    if !run.status.success() {
        let what = process_name
            .map(|n| format!(" (compiling `{n}`)"))
            .unwrap_or_default();
        let (message, lines) = faust_message(&run.stderr, &what);
        return Err(CompileError::Faust { message, lines });
    }
    let code = fs::read_to_string(dir.join(&output)).map_err(|e| {
        CompileError::faust(format!(
            "Faust error: the Faust compiler wrote no readable output ({e})"
        ))
    })?;
    if code.contains("add_soundfile") {
        return Err(CompileError::Refused(vec![Refusal::new(
            None,
            format!(
                "refused: `{}` uses a sound file through a library (patches cannot load sound files)",
                process_name.unwrap_or("process")
            ),
        )]));
    }
    Ok(code)
}

/// Rewrites Faust's `file : LINE : ERROR : message` lines to name the program's line (or
/// the library and its line) and keeps the rest, cut to a readable length; also returns the
/// program lines the errors point at (not those inside libraries).
fn faust_message(stderr: &str, what: &str) -> (String, Vec<SourceLine>) {
    let mut program_lines: Vec<SourceLine> = Vec::new();
    let lines: Vec<String> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let parts: Vec<&str> = line.splitn(4, " : ").collect();
            match parts.as_slice() {
                [file, number, "ERROR", message] if number.trim().parse::<u32>().is_ok() => {
                    let file = file.trim();
                    let name = Path::new(file)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| file.to_string());
                    if name == PATCH_FILE {
                        let line = SourceLine {
                            line: number.trim().parse().unwrap_or(0),
                            message: message.trim().to_string(),
                        };
                        if line.line > 0 && !program_lines.contains(&line) {
                            program_lines.push(line);
                        }
                        format!("line {}: {message}", number.trim())
                    } else {
                        format!("{name} line {}: {message}", number.trim())
                    }
                }
                [_, _, "ERROR", message] => message.to_string(),
                _ => line.to_string(),
            }
        })
        .collect();
    let text = clip(&lines);
    let message = if text.is_empty() {
        format!("Faust error{what}: the Faust compiler failed without a message")
    } else if lines.len() == 1 && text.starts_with("line ") {
        format!("Faust error{what} at {text}")
    } else {
        format!("Faust error{what}: {text}")
    };
    (message, program_lines)
}

fn clip(lines: &[String]) -> String {
    let mut text = lines
        .iter()
        .take(MAX_MESSAGE_LINES)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    if text.chars().count() > MAX_MESSAGE_CHARS {
        text = text.chars().take(MAX_MESSAGE_CHARS).collect();
        text.push('…');
    } else if lines.len() > MAX_MESSAGE_LINES {
        text.push_str("\n…");
    }
    text
}

/// Compiles the wrapper in `dir` into the library at `library`.
fn run_rustc(
    rustc: &Tool,
    dir: &Path,
    library: &Path,
    limit: Duration,
) -> Result<(), CompileError> {
    let mut cmd = Command::new(&rustc.path);
    cmd.current_dir(dir)
        .args(RUSTC_FLAGS)
        .arg("-o")
        .arg(library)
        .arg(WRAPPER_FILE);
    let run = run_limited(cmd, "Rust compilation", limit, dir)?;
    if run.status.success() && library.is_file() {
        Ok(())
    } else {
        Err(CompileError::Rustc(rustc_message(&run.stderr)))
    }
}

/// The generated code should always compile, so a rustc error is either a standard-library
/// function Faust left as a C call, a missing linker, or a bug of ours; say which.
fn rustc_message(stderr: &str) -> String {
    let first = stderr
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or_else(|| {
            stderr
                .lines()
                .next()
                .unwrap_or("rustc failed without a message")
        })
        .trim();
    if let Some(function) = first
        .split("cannot find function `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
    {
        return format!(
            "the program uses `{function}`, a C function that patches cannot call (a standard library defines it with `ffunction`); use another function"
        );
    }
    if first.contains("linker") {
        return format!(
            "cannot link the compiled patch ({first}): install a C toolchain, e.g. `apt-get install gcc`"
        );
    }
    format!("internal error: the generated Rust code did not compile: {first}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faust_errors_name_the_program_line() {
        let (message, lines) = faust_message(
            "patch.dsp : 3 : ERROR : syntax error, unexpected ENDDEF\n",
            "",
        );
        assert_eq!(
            message,
            "Faust error at line 3: syntax error, unexpected ENDDEF"
        );
        assert_eq!(
            lines,
            [SourceLine {
                line: 3,
                message: "syntax error, unexpected ENDDEF".into()
            }]
        );
        let (message, lines) = faust_message(
            "/usr/share/faust/filters.lib : 12 : ERROR : undefined symbol : x\n",
            " (compiling `effect`)",
        );
        assert_eq!(
            message,
            "Faust error (compiling `effect`): filters.lib line 12: undefined symbol : x"
        );
        assert!(lines.is_empty(), "a library's line is not the program's");
        let (_, lines) = faust_message(
            "patch.dsp : 2 : ERROR : a\n/usr/share/faust/filters.lib : 12 : ERROR : not ours\npatch.dsp : 9 : ERROR : b\n",
            "",
        );
        let numbers: Vec<usize> = lines.iter().map(|l| l.line).collect();
        assert_eq!(numbers, [2, 9]);
    }

    #[test]
    fn long_faust_errors_are_cut() {
        let long = "x".repeat(5000);
        let (message, _) = faust_message(&format!("ERROR in sequential composition\n{long}\n"), "");
        assert!(message.starts_with("Faust error: ERROR in sequential composition\n"));
        assert!(message.chars().count() < MAX_MESSAGE_CHARS + 40);
    }

    #[test]
    fn rustc_errors_say_what_to_do() {
        let missing =
            "error[E0425]: cannot find function `arc4random` in this scope\n  --> wrapper.rs:1:1\n";
        assert!(rustc_message(missing).starts_with("the program uses `arc4random`"));
        assert_eq!(
            rustc_message("warning: x\nerror[E0308]: mismatched types\n"),
            "internal error: the generated Rust code did not compile: error[E0308]: mismatched types"
        );
    }
}
