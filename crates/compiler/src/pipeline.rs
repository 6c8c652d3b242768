//! The compile pipeline: screen → cache lookup (verified) → `faust -lang rust` in its
//! sandbox → the files Faust used checked → the memory the DSPs will need checked →
//! wrapper crate → `rustc --crate-type cdylib` in its sandbox → load and check, each
//! compiler run under its limits, with their error messages turned into ones a producer can
//! act on.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::cache::{Cache, Key, Lookup};
use super::limits::{cut, ChildLimits, Footprint};
use super::prelude::{self, Prelude, PRELUDE_RLIB};
use super::sandbox::{Allowed, Confinement};
use super::screen::{is_faust_library_file, screen, Screened, MEPHISTO_LIB};
use super::target;
use super::toolchain::{run_limited, RunOptions, Tool};
use super::variant::LoadedVariant;
use super::wrapper::{template_text, wrapper_source, ABI_VERSION};
use super::{CompileError, CompiledVariant, Compiler, Refusal, SourceLine, StageTimes};

/// The project library, compiled into the plugin so runtime patches can import it wherever
/// the plugin is installed.
const MEPHISTO_LIB_SOURCE: &str = include_str!("../../../faust/mephisto.lib");

/// Faust flags shared by the voice and effect runs (the class and process names follow).
/// `-flist` prints the files Faust read, which are checked against the allowed libraries.
const FAUST_FLAGS: &[&str] = &["-lang", "rust", "-flist"];

/// rustc's code generation flags, the same for the variants and the prelude they link:
/// optimised code that catches panics (the wrapper relies on unwinding), without debug info
/// (smaller, faster to link), with warnings in generated code silenced. `opt-level=2`
/// without the local ThinLTO pass compiles faster than `opt-level=3` and plays as fast (the
/// measured table is in docs/BENCHMARKS.md); [`target::NATIVE_FLAGS`] follow where the CPU
/// can be identified.
const RUSTC_CODEGEN_FLAGS: &[&str] = &[
    "--edition",
    "2021",
    "-C",
    "opt-level=2",
    "-C",
    "lto=off",
    "-C",
    "panic=unwind",
    "-C",
    "debuginfo=0",
    "--cap-lints",
    "allow",
];

/// What makes a variant's crate a stripped `cdylib` linking the prelude.
const RUSTC_VARIANT_FLAGS: &[&str] = &[
    "--crate-type",
    "cdylib",
    "-C",
    "strip=symbols",
    "--extern",
    "mephisto_prelude=libmephisto_prelude.rlib",
];

/// The code generation flags for this machine's CPU (`native`) or generic code.
fn codegen_flags(native: bool) -> Vec<&'static str> {
    let mut flags = RUSTC_CODEGEN_FLAGS.to_vec();
    if native {
        flags.extend(target::NATIVE_FLAGS);
    }
    flags
}

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
    let cache = Cache::open(compiler.options.cache_dir.as_deref())?;
    let (faust, rustc) = compiler.tools(cache.root())?;
    let cpu = target::native_cpu();
    let key = cache_key(source, &screened, &faust, &rustc, cpu.as_deref());
    times.toolchain = stage.elapsed();
    let mut notes: Vec<String> = Vec::new();

    match cache.lookup(&key) {
        Lookup::Hit(library) => {
            let stage = Instant::now();
            match LoadedVariant::open(&library) {
                Ok(loaded) => {
                    times.load = stage.elapsed();
                    return CompiledVariant::new(loaded, true, times, key, notes);
                }
                // A verified entry this Mephisto refuses (its memory, say) is refused again
                // by the build; anything else unloadable is rebuilt.
                Err(e @ CompileError::Refused(_)) => return Err(e),
                Err(e) => {
                    notes.push(format!(
                        "the cached build of this program could not be loaded ({e}); it was moved aside and rebuilt"
                    ));
                    cache.evict(&key);
                }
            }
        }
        Lookup::Damaged(why) => {
            notes.push(format!(
                "the cached build of this program was damaged ({why}); it was moved aside and rebuilt"
            ));
            cache.evict(&key);
        }
        Lookup::Miss => {}
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
    let prelude = Prelude::new(&cache, &rustc, RUSTC_CODEGEN_FLAGS, cpu.as_deref())?;
    let built_prelude = prelude.built();
    let limit = compiler.options.faust_time_limit;
    let jail = Confinement::new(
        &Allowed::faust(&faust.path, &faust.libraries, dir),
        ChildLimits::faust(limit),
    )?;
    let faust_run = FaustRun {
        faust: &faust,
        dir,
        limit,
        jail: &jail,
        cancel: compiler.cancel.as_deref(),
    };
    let (voice, effect, prelude_library) = std::thread::scope(|scope| {
        // The first compile with a toolchain also builds the prelude, beside Faust.
        let prelude_build = built_prelude.is_none().then(|| {
            scope.spawn(|| {
                let started = Instant::now();
                let flags = codegen_flags(cpu.is_some());
                let limit = compiler.options.rustc_time_limit;
                let cancel = compiler.cancel.as_deref();
                prelude
                    .build(&rustc, &flags, limit, cancel)
                    .map(|library| (library, started.elapsed()))
            })
        });
        let effect = screened
            .defines_effect
            .then(|| scope.spawn(|| faust_run.run("Effect", Some("effect"))));
        let voice = faust_run.run("Voice", None);
        let effect = effect.map(|handle| {
            handle.join().unwrap_or_else(|_| {
                Err(CompileError::faust(
                    "Faust error: the effect's compile thread failed".into(),
                ))
            })
        });
        let prelude_library = match prelude_build {
            None => Ok(built_prelude.clone().map(|library| (library, None))),
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| {
                    Err(CompileError::Rustc(
                        "the wrapper's prelude: its compile thread failed".into(),
                    ))
                })
                .map(|(library, took)| Some((library, Some(took)))),
        };
        (voice, effect, prelude_library)
    });
    let voice = voice?;
    let effect = effect.transpose()?;
    times.faust = stage.elapsed();
    let (prelude_library, prelude_took) = prelude_library?
        .ok_or_else(|| CompileError::Cache("the wrapper's prelude is missing".into()))?;
    if let Some(took) = prelude_took {
        notes.push(format!(
            "built the wrapper's prelude for this toolchain ({:.0} ms, once; beside Faust)",
            took.as_secs_f64() * 1e3
        ));
    }
    // Before rustc builds anything: the memory the DSPs would take.
    Footprint::of_faust_output(&voice, effect.as_deref())
        .check()
        .map_err(|why| CompileError::Refused(vec![Refusal::new(None, why)]))?;

    let stage = Instant::now();
    write(WRAPPER_FILE, &wrapper_source(&voice, effect.as_deref()))?;
    prelude::copy_into(&prelude_library, dir)?;
    let limit = compiler.options.rustc_time_limit;
    let jail = Confinement::new(&Allowed::rustc(&rustc.path, dir), ChildLimits::rustc(limit))?;
    run_rustc(
        &rustc,
        cpu.is_some(),
        &staging.library(),
        &RunOptions {
            stage: "Rust compilation",
            limit,
            scratch: dir,
            confinement: Some(&jail),
            cancel: compiler.cancel.as_deref(),
        },
    )?;
    times.rustc = stage.elapsed();
    // The entry keeps the program and the wrapper (which contains Faust's output) for
    // debugging; the rest is scratch.
    for scratch in ["voice.rs", "effect.rs", MEPHISTO_LIB, PRELUDE_RLIB] {
        let _ = fs::remove_file(dir.join(scratch));
    }

    let stage = Instant::now();
    let library = staging.publish()?;
    let loaded = LoadedVariant::open(&library)?;
    times.load = stage.elapsed();
    CompiledVariant::new(loaded, false, times, key, notes)
}

/// Everything that shapes the compiled library; `cpu` is the CPU's identity when the library
/// is built for it ([`target::native_cpu`]).
fn cache_key(
    source: &str,
    screened: &Screened,
    faust: &Tool,
    rustc: &Tool,
    cpu: Option<&str>,
) -> Key {
    let [prelude, variant_head, dsp_template] = template_text();
    let abi = ABI_VERSION.to_le_bytes();
    let faust_flags = FAUST_FLAGS.join(" ");
    let rustc_flags = [RUSTC_CODEGEN_FLAGS, RUSTC_VARIANT_FLAGS]
        .concat()
        .join(" ");
    let (native_flags, cpu) = match cpu {
        Some(cpu) => (target::NATIVE_FLAGS.join(" "), cpu),
        None => (String::new(), "generic"),
    };
    let library: &[u8] = if screened.uses_mephisto_lib {
        MEPHISTO_LIB_SOURCE.as_bytes()
    } else {
        b""
    };
    Key::new(&[
        ("abi", &abi),
        ("wrapper prelude", prelude.as_bytes()),
        ("wrapper head", variant_head.as_bytes()),
        ("wrapper dsp", dsp_template.as_bytes()),
        ("faust version", faust.version.as_bytes()),
        ("rustc version", rustc.version.as_bytes()),
        ("faust flags", faust_flags.as_bytes()),
        ("rustc flags", rustc_flags.as_bytes()),
        ("native flags", native_flags.as_bytes()),
        ("target cpu", cpu.as_bytes()),
        ("source", source.as_bytes()),
        (MEPHISTO_LIB, library),
    ])
}

/// One program's Faust runs: where, with which limits and sandbox.
struct FaustRun<'a> {
    faust: &'a Tool,
    dir: &'a Path,
    limit: Duration,
    jail: &'a Confinement,
    cancel: Option<&'a std::sync::atomic::AtomicBool>,
}

impl FaustRun<'_> {
    /// Runs Faust's Rust backend on the program in `dir`, for `process` or `process_name`,
    /// and checks the files it read.
    fn run(&self, class: &str, process_name: Option<&str>) -> Result<String, CompileError> {
        let output = format!("{}.rs", class.to_lowercase());
        let mut cmd = Command::new(&self.faust.path);
        cmd.current_dir(self.dir)
            .env_remove("FAUST_LIB_PATH")
            .args(FAUST_FLAGS)
            .args(["-cn", class, "-o", &output]);
        if let Some(name) = process_name {
            cmd.args(["-pn", name]);
        }
        cmd.arg(PATCH_FILE);
        let run = run_limited(
            cmd,
            &RunOptions {
                stage: "Faust compilation",
                limit: self.limit,
                scratch: self.dir,
                confinement: Some(self.jail),
                cancel: self.cancel,
            },
        )?;
        if !run.status.success() {
            let what = process_name
                .map(|n| format!(" (compiling `{n}`)"))
                .unwrap_or_default();
            let (message, lines) = faust_message(&run.stderr, &what);
            return Err(CompileError::Faust { message, lines });
        }
        check_files_used(&run.stdout, self.dir, &self.faust.libraries)?;
        let code = fs::read_to_string(self.dir.join(&output)).map_err(|e| {
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
}

/// Checks the files Faust says it read (`-flist`): the program, and allowed libraries from
/// the build folder or Faust's library folders. Anything else means the sandbox and the
/// screen both failed; the compile stops, and the message names the file but never
/// quotes it.
fn check_files_used(
    stdout: &str,
    dir: &Path,
    libraries: &[std::path::PathBuf],
) -> Result<(), CompileError> {
    let Some((_, list)) = stdout.split_once("List of file dependencies :") else {
        return Err(CompileError::Sandbox(
            "Faust did not list the files it read, so they cannot be checked".into(),
        ));
    };
    let allowed = |path: &Path| -> bool {
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            dir.join(path)
        };
        let path = fs::canonicalize(&path).unwrap_or(path);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let name = name.to_string_lossy();
        let in_job = fs::canonicalize(dir).is_ok_and(|d| d == parent) || parent == dir;
        (in_job && (name == PATCH_FILE || name == MEPHISTO_LIB))
            || (libraries.iter().any(|l| l == parent) && is_faust_library_file(&name))
    };
    for line in list.lines().map(str::trim) {
        if line.is_empty() || line.chars().all(|c| c == '-') {
            continue;
        }
        if !allowed(Path::new(line)) {
            return Err(CompileError::Sandbox(format!(
                "refused: Faust read `{}`, which is not one of the allowed libraries; the program was stopped",
                cut(line, 120)
            )));
        }
    }
    Ok(())
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

/// Compiles the wrapper in the build folder (`options.scratch`) into the library at
/// `library`, for this machine's CPU when `native`.
fn run_rustc(
    rustc: &Tool,
    native: bool,
    library: &Path,
    options: &RunOptions,
) -> Result<(), CompileError> {
    let mut cmd = Command::new(&rustc.path);
    cmd.current_dir(options.scratch)
        .args(RUSTC_VARIANT_FLAGS)
        .args(codegen_flags(native));
    cmd.arg("-o").arg(library).arg(WRAPPER_FILE);
    let run = run_limited(cmd, options)?;
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
    fn variants_link_the_prelude_by_the_name_it_is_built_and_copied_under() {
        let link = format!("{}={PRELUDE_RLIB}", crate::wrapper::PRELUDE_CRATE);
        assert!(
            RUSTC_VARIANT_FLAGS.contains(&link.as_str()),
            "{RUSTC_VARIANT_FLAGS:?}"
        );
    }

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

    /// Even with the screen out of the way, Faust in its sandbox cannot read a file outside
    /// the libraries, and nothing of it reaches the message.
    #[test]
    fn faust_in_its_sandbox_cannot_read_a_planted_file() {
        use crate::toolchain::ToolKind;
        let root = std::env::temp_dir().join(format!(
            "mephisto-faust-sandbox-{}",
            crate::cache::unique_suffix()
        ));
        let job = root.join("job");
        fs::create_dir_all(&job).unwrap();
        let secret = root.join("secret.lib");
        fs::write(&secret, "process = hunter2canary;\n").unwrap();
        fs::write(
            job.join(PATCH_FILE),
            format!("import(\"{}\");\nprocess = 0;\n", secret.display()),
        )
        .unwrap();
        let faust = Tool::locate(ToolKind::Faust, None, &root).unwrap();
        let jail = Confinement::new(
            &Allowed::faust(&faust.path, &faust.libraries, &job),
            ChildLimits::faust(Duration::from_secs(20)),
        )
        .unwrap();
        let run = FaustRun {
            faust: &faust,
            dir: &job,
            limit: Duration::from_secs(20),
            jail: &jail,
            cancel: None,
        };
        let err = run.run("Voice", None).unwrap_err().to_string();
        assert!(!err.contains("hunter2canary"), "{err}");
        if crate::sandbox::status().enforced() {
            assert!(err.contains("unable to open file"), "{err}");
        }
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn only_allowed_files_may_be_listed_by_faust() {
        let dir = std::env::temp_dir();
        let libs = [std::path::PathBuf::from("/usr/share/faust")];
        let list = |files: &[&str]| {
            format!(
                "---\nList of file dependencies :\n---\n{}\n",
                files.join("\n")
            )
        };
        assert!(check_files_used(
            &list(&["patch.dsp", "/usr/share/faust/stdfaust.lib"]),
            &dir,
            &libs
        )
        .is_ok());
        // `all.lib` reads `soundfiles.lib` (Faust's own); the same name elsewhere is refused.
        assert!(check_files_used(
            &list(&[
                "patch.dsp",
                "/usr/share/faust/all.lib",
                "/usr/share/faust/soundfiles.lib"
            ]),
            &dir,
            &libs
        )
        .is_ok());
        assert!(
            check_files_used(&list(&["patch.dsp", "/tmp/soundfiles.lib"]), &dir, &libs).is_err()
        );
        let err = check_files_used(&list(&["patch.dsp", "/etc/passwd"]), &dir, &libs)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("refused: Faust read `/etc/passwd`"),
            "{err}"
        );
        assert!(check_files_used("no list", &dir, &libs).is_err());
        assert!(
            check_files_used(&list(&["/usr/share/faust/../../../etc/x.lib"]), &dir, &libs).is_err()
        );
    }

    /// A library built for one CPU is never found under another CPU's key, nor under the
    /// key of a generic build.
    #[test]
    fn the_target_cpu_is_part_of_the_cache_key() {
        let source = "process = 0;";
        let screened = screen(source).unwrap();
        let tool = |version: &str| Tool {
            path: "/usr/bin/x".into(),
            version: version.into(),
            libraries: Vec::new(),
        };
        let (faust, rustc) = (tool("faust 1"), tool("rustc 1"));
        let key = |cpu| cache_key(source, &screened, &faust, &rustc, cpu);
        assert_eq!(key(Some("cpu a")), key(Some("cpu a")));
        assert_ne!(key(Some("cpu a")), key(Some("cpu b")));
        assert_ne!(key(Some("cpu a")), key(None));
        assert_ne!(
            key(Some("generic")),
            key(None),
            "a CPU named `generic` is not the generic build"
        );
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
