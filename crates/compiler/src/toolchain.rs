//! The external compilers: finding `faust` and `rustc` (a configured path, else `PATH`),
//! reading their versions for the cache key, and running them under a time limit that kills
//! the whole process group (rustc's linker included) when it runs out.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::children::Group;
use super::identity::{self, Identity, Stamp};
use super::sandbox::Confinement;
use super::CompileError;

/// How long a `--version` query may take before the tool counts as broken.
const VERSION_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Which compiler a [`Tool`] is, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    Faust,
    Rustc,
}

impl ToolKind {
    fn program(self) -> &'static str {
        match self {
            ToolKind::Faust => "faust",
            ToolKind::Rustc => "rustc",
        }
    }

    fn description(self) -> &'static str {
        match self {
            ToolKind::Faust => "the Faust compiler",
            ToolKind::Rustc => "the Rust compiler",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            ToolKind::Faust => "install it with `apt-get install faust`",
            ToolKind::Rustc => "install it (rustup, or `apt-get install rustc`)",
        }
    }

    fn version_args(self) -> &'static [&'static str] {
        match self {
            ToolKind::Faust => &["--version"],
            // The verbose form carries the commit and LLVM version, both of which change code.
            ToolKind::Rustc => &["-vV"],
        }
    }

    fn missing(self, at: &Path) -> CompileError {
        CompileError::MissingTool {
            tool: Some(self),
            message: format!(
                "cannot find {} at `{}`: {} or set its path in Settings",
                self.description(),
                at.display(),
                self.install_hint()
            ),
        }
    }
}

/// A located compiler and its version text.
#[derive(Debug, Clone)]
pub struct Tool {
    pub path: PathBuf,
    /// `faust --version`'s first line, or `rustc -vV` whole.
    pub version: String,
    /// Faust's standard library folders that exist (empty for rustc): the only folders
    /// besides the build folder a program's imports may come from.
    pub libraries: Vec<PathBuf>,
}

impl Tool {
    /// Finds the tool at `configured`, or on `PATH` when nothing is configured, and learns
    /// its version (which also proves it runs): from its identity record in `records` (the
    /// cache folder) while the executable is unchanged, else by asking it. The rustup proxy
    /// is resolved to its toolchain's `rustc`, which the compiles then run directly.
    pub fn locate(
        kind: ToolKind,
        configured: Option<&Path>,
        records: &Path,
    ) -> Result<Tool, CompileError> {
        let path = match configured {
            Some(path) if path.is_file() => path.to_path_buf(),
            Some(path) => return Err(kind.missing(path)),
            None => search_path(kind.program())
                .ok_or_else(|| kind.missing(Path::new(kind.program())))?,
        };
        let stamp = Stamp::of(&path).ok_or_else(|| kind.missing(&path))?;
        let proxy = kind == ToolKind::Rustc && is_rustup_proxy(&stamp.path);
        let context = if proxy {
            rustup_context()
        } else {
            String::new()
        };
        let may_run = |real: &Path| real == stamp.path || (proxy && is_toolchain_rustc(real));
        let identity = match identity::recall(records, kind.program(), &stamp, &context, may_run) {
            Some(known) => known,
            None => {
                let real = if proxy {
                    resolve_rustup(&path, records)?
                } else {
                    stamp.clone()
                };
                let version = ask_version(kind, &real.path, records)?;
                let probed = Identity {
                    configured: stamp,
                    context,
                    real,
                    version,
                };
                identity::remember(records, kind.program(), &probed);
                probed
            }
        };
        let path = identity.real.path;
        let libraries = match kind {
            ToolKind::Faust => faust_libraries(&path),
            ToolKind::Rustc => Vec::new(),
        };
        Ok(Tool {
            path,
            version: identity.version,
            libraries,
        })
    }
}

/// Runs `path` with its version flags: `faust --version`'s first line, or `rustc -vV`
/// whole.
fn ask_version(kind: ToolKind, path: &Path, dir: &Path) -> Result<String, CompileError> {
    let run = run_query(kind, path, kind.version_args(), dir)?;
    Ok(match kind {
        ToolKind::Faust => first_line(&run.stdout).to_string(),
        ToolKind::Rustc => run.stdout.trim().to_string(),
    })
}

/// Runs a short query (`--version`, `--print sysroot`) in `dir` and insists that it
/// succeeds.
fn run_query(
    kind: ToolKind,
    path: &Path,
    args: &[&str],
    dir: &Path,
) -> Result<Finished, CompileError> {
    let mut cmd = Command::new(path);
    cmd.args(args).current_dir(dir);
    let scratch = std::env::temp_dir();
    let options = RunOptions {
        stage: "version query",
        limit: VERSION_TIME_LIMIT,
        scratch: &scratch,
        confinement: None,
        cancel: None,
    };
    let run = run_limited(cmd, &options).map_err(|e| match e {
        CompileError::MissingTool { message: why, .. } => CompileError::MissingTool {
            tool: Some(kind),
            message: format!(
                "{} at `{}` does not run ({why}): {} or set its path in Settings",
                kind.description(),
                path.display(),
                kind.install_hint()
            ),
        },
        other => other,
    })?;
    if !run.status.success() {
        return Err(CompileError::MissingTool {
            tool: Some(kind),
            message: format!(
                "{} at `{}` does not run (`{} {}` failed: {}): {} or set its path in Settings",
                kind.description(),
                path.display(),
                kind.program(),
                args.join(" "),
                first_line(&run.stderr),
                kind.install_hint()
            ),
        });
    }
    Ok(run)
}

/// Whether `resolved` (symbolic links followed) is rustup's proxy rather than a compiler.
pub fn is_rustup_proxy(resolved: &Path) -> bool {
    resolved
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("rustup"))
}

/// Rustup's home: `$RUSTUP_HOME`, else `~/.rustup`.
pub fn rustup_home() -> PathBuf {
    std::env::var_os("RUSTUP_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"))
}

/// A toolchain's own `rustc`, the only thing a recorded proxy may resolve to:
/// `<rustup home>/toolchains/<name>/bin/rustc`.
fn is_toolchain_rustc(real: &Path) -> bool {
    let toolchains = rustup_home().join("toolchains");
    let toolchains = std::fs::canonicalize(&toolchains).unwrap_or(toolchains);
    real.file_name().is_some_and(|n| n == "rustc")
        && real
            .parent()
            .filter(|bin| bin.file_name().is_some_and(|n| n == "bin"))
            .and_then(Path::parent)
            .and_then(Path::parent)
            .is_some_and(|dir| dir == toolchains)
}

/// What decides the toolchain the rustup proxy picks, besides `rust-toolchain.toml` files
/// (which the compiles' folders inside the cache do not have): the default in rustup's
/// settings, and `$RUSTUP_TOOLCHAIN`.
fn rustup_context() -> String {
    let settings = rustup_home().join("settings.toml");
    let settings = Stamp::of(&settings)
        .map(|s| format!("{}:{}:{}", s.path.display(), s.bytes, s.mtime_ns))
        .unwrap_or_else(|| "no settings".into());
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_default();
    format!("rustup settings {settings}; RUSTUP_TOOLCHAIN={toolchain}")
}

/// Asks the rustup proxy for the toolchain it would run (from the cache folder, where the
/// compiles run) and returns that toolchain's `rustc`.
fn resolve_rustup(proxy: &Path, records: &Path) -> Result<Stamp, CompileError> {
    let run = run_query(ToolKind::Rustc, proxy, &["--print", "sysroot"], records)?;
    let sysroot = PathBuf::from(first_line(&run.stdout));
    let real = sysroot.join("bin").join("rustc");
    Stamp::of(&real)
        .filter(|s| is_toolchain_rustc(&s.path))
        .ok_or_else(|| CompileError::MissingTool {
            tool: Some(ToolKind::Rustc),
            message: format!(
                "the Rust compiler behind rustup at `{}` is not in rustup's toolchains (it names `{}`): {} or set its path in Settings",
                proxy.display(),
                real.display(),
                ToolKind::Rustc.install_hint()
            ),
        })
}

/// Where Faust looks for its standard libraries: beside its executable
/// (`<prefix>/share/faust`), then the usual install folders.
fn faust_libraries(faust: &Path) -> Vec<PathBuf> {
    let real = std::fs::canonicalize(faust).unwrap_or_else(|_| faust.to_path_buf());
    let beside = real
        .parent()
        .and_then(Path::parent)
        .map(|prefix| prefix.join("share").join("faust"));
    let mut found: Vec<PathBuf> = Vec::new();
    for dir in beside
        .into_iter()
        .chain(["/usr/local/share/faust", "/usr/share/faust"].map(PathBuf::from))
    {
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        if dir.join("stdfaust.lib").is_file() && !found.contains(&dir) {
            found.push(dir);
        }
    }
    found
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// Searches `PATH`, then the usual install folders: a host started from a desktop menu
/// often has a `PATH` without `~/.cargo/bin`.
fn search_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(home.map(|h| h.join(".cargo").join("bin")))
        .chain(["/usr/local/bin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// How a compiler process runs: under a wall-clock limit, optionally confined (Landlock and
/// kernel limits, [`Confinement`]) and stopped early when `cancel` is set.
pub struct RunOptions<'a> {
    /// Names the stage in messages ("Faust compilation").
    pub stage: &'a str,
    pub limit: Duration,
    /// Where the output files go.
    pub scratch: &'a Path,
    pub confinement: Option<&'a Confinement>,
    pub cancel: Option<&'a AtomicBool>,
}

/// Runs `cmd` to completion or until its limit passes or it is cancelled, then kills it with
/// everything it started. Output goes through files in `scratch` so a chatty tool can never
/// block on a full pipe while we wait for it; at most [`MAX_OUTPUT_BYTES`] of each is read.
pub fn run_limited(mut cmd: Command, run: &RunOptions) -> Result<Finished, CompileError> {
    let stage = run.stage;
    let program = cmd.get_program().to_os_string();
    let unique = super::cache::unique_suffix();
    let out_path = run
        .scratch
        .join(format!(".{stage}-{unique}.out").replace(' ', "-"));
    let err_path = run
        .scratch
        .join(format!(".{stage}-{unique}.err").replace(' ', "-"));
    let io_error = |what: &str, e: std::io::Error| {
        CompileError::Cache(format!(
            "cannot {what} for the {stage} in `{}`: {e}",
            run.scratch.display()
        ))
    };
    let stdout = File::create(&out_path).map_err(|e| io_error("create an output file", e))?;
    let stderr = File::create(&err_path).map_err(|e| io_error("create an output file", e))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    match run.confinement {
        Some(confinement) => confinement.apply(&mut cmd),
        None => {
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
    }
    let result = wait_limited(cmd, &program, run);
    let read = |path: &Path| {
        let text = read_capped(path);
        let _ = std::fs::remove_file(path);
        text
    };
    let (stdout, stderr) = (read(&out_path), read(&err_path));
    result.map(|status| Finished {
        status,
        stdout,
        stderr,
    })
}

/// The most of a compiler's stdout or stderr that is read: its messages are cut to a few
/// lines anyway, and a runaway one must not fill the memory.
pub const MAX_OUTPUT_BYTES: u64 = 1 << 20;

fn read_capped(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(file) = File::open(path) {
        let _ = file.take(MAX_OUTPUT_BYTES).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// How often a running compiler is looked at: its exit is noticed at most this late. A
/// pause that doubled up to 20 ms made a 32 ms Faust run cost 52 ms; a look (`waitpid`
/// without waiting) costs microseconds.
const POLL_PAUSE: Duration = Duration::from_millis(1);

fn wait_limited(
    mut cmd: Command,
    program: &OsStr,
    run: &RunOptions,
) -> Result<ExitStatus, CompileError> {
    let stage = run.stage;
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CompileError::MissingTool {
                tool: None,
                message: format!(
                    "cannot find `{}` for the {stage}",
                    program.to_string_lossy()
                ),
            }
        } else {
            CompileError::MissingTool {
                tool: None,
                message: format!(
                    "cannot start `{}` for the {stage}: {e}",
                    program.to_string_lossy()
                ),
            }
        }
    })?;
    // From here on, every way out (a return, a panic) kills the process group.
    let mut child = Group::new(child);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => {
                return Err(CompileError::MissingTool {
                    tool: None,
                    message: format!(
                        "lost track of `{}` during the {stage}: {e}",
                        program.to_string_lossy()
                    ),
                });
            }
        }
        if run.cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            return Err(CompileError::Cancelled);
        }
        let elapsed = started.elapsed();
        if elapsed >= run.limit {
            return Err(CompileError::Timeout {
                stage: stage.to_string(),
                limit: run.limit,
            });
        }
        thread::sleep(POLL_PAUSE.min(run.limit - elapsed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_configured_tool_names_its_path() {
        let err = Tool::locate(
            ToolKind::Faust,
            Some(Path::new("/nonexistent/faust")),
            &std::env::temp_dir(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot find the Faust compiler at `/nonexistent/faust`: install it with `apt-get install faust` or set its path in Settings"
        );
    }

    /// Sets a file's modification time without opening it for writing (an open writable
    /// executable cannot be run).
    #[cfg(unix)]
    fn set_mtime(path: &Path, seconds: i64) {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        let times = [libc::timespec {
            tv_sec: seconds,
            tv_nsec: 0,
        }; 2];
        // SAFETY: a valid NUL-terminated path and two timespecs.
        let done = unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), 0) };
        assert_eq!(done, 0, "{}", std::io::Error::last_os_error());
    }

    /// A stand-in `faust` that counts how often it is run.
    #[cfg(unix)]
    fn counting_faust(dir: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("faust");
        let count = dir.join("runs");
        std::fs::write(
            &exe,
            format!(
                "#!/bin/sh\necho run >> '{}'\necho 'FAUST Version 9.9.9'\n",
                count.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        (exe, count)
    }

    #[cfg(unix)]
    #[test]
    fn a_tool_is_asked_once_until_it_changes() {
        let dir = std::env::temp_dir().join(format!(
            "mephisto-toolchain-{}",
            super::super::cache::unique_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (exe, count) = counting_faust(&dir);
        let runs = || {
            std::fs::read_to_string(&count)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        // Another test thread's fork can hold the script open for writing for a moment
        // (ETXTBSY); a run that failed to start counts nothing, so it is tried again.
        let locate = || loop {
            match Tool::locate(ToolKind::Faust, Some(&exe), &dir) {
                Err(e) if e.to_string().contains("Text file busy") => {
                    thread::sleep(Duration::from_millis(20))
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(locate().version, "FAUST Version 9.9.9");
        assert_eq!(runs(), 1);
        assert_eq!(locate().version, "FAUST Version 9.9.9");
        assert_eq!(runs(), 1, "the second locate asked the tool again");
        // An update (new modification time): asked again, once.
        set_mtime(&exe, 2_000_000);
        locate();
        assert_eq!(runs(), 2);
        locate();
        assert_eq!(runs(), 2);
        // A damaged record: ignored, the tool asked, the record written again.
        let record = identity::record_path(&dir, "faust", &Stamp::of(&exe).unwrap());
        std::fs::write(
            &record,
            "mephisto toolchain identity 1\ntool faust\nconfigured /x",
        )
        .unwrap();
        assert_eq!(locate().version, "FAUST Version 9.9.9");
        assert_eq!(runs(), 3);
        locate();
        assert_eq!(runs(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Behind the rustup proxy, the compiles run the toolchain's own `rustc`.
    #[test]
    fn the_rustup_proxy_is_resolved_to_its_toolchain() {
        let dir = std::env::temp_dir().join(format!(
            "mephisto-toolchain-rustup-{}",
            super::super::cache::unique_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let configured = search_path("rustc").expect("rustc on PATH");
        let first = Tool::locate(ToolKind::Rustc, None, &dir).unwrap();
        let again = Tool::locate(ToolKind::Rustc, None, &dir).unwrap();
        assert_eq!(first.path, again.path);
        assert_eq!(first.version, again.version);
        assert!(first.version.starts_with("rustc "), "{}", first.version);
        let resolved = std::fs::canonicalize(&configured).unwrap();
        if is_rustup_proxy(&resolved) {
            assert!(is_toolchain_rustc(&first.path), "{}", first.path.display());
        } else {
            assert_eq!(first.path, resolved);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_slow_command_is_killed_at_its_limit() {
        let pid_file = std::env::temp_dir().join(format!("mephisto-slow-{}", std::process::id()));
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            &format!("echo $$ > {}; exec sleep 30", pid_file.display()),
        ]);
        let scratch = std::env::temp_dir();
        let options = RunOptions {
            stage: "test stage",
            limit: Duration::from_millis(200),
            scratch: &scratch,
            confinement: None,
            cancel: None,
        };
        let err = run_limited(cmd, &options).unwrap_err();
        assert!(matches!(err, CompileError::Timeout { ref stage, .. } if stage == "test stage"));
        // The command was killed and reaped, not waited out: its process is gone.
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = std::fs::remove_file(&pid_file);
        // SAFETY: signal 0 only asks whether the process exists.
        assert_eq!(
            unsafe { libc::kill(pid, 0) },
            -1,
            "process {pid} still exists"
        );
    }
}
