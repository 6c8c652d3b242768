//! Runs one hostile case against the `mephisto` binary and judges it: a clear error (or the
//! expected result), no crash (death by a signal), no hang (a time limit), no leak of the
//! planted canary (in its output or in any file it wrote), bounded memory (the kernel's
//! address-space limit and the peak resident size), and no process left behind.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mephisto_compiler::CACHE_DIR_ENV;

/// The command under attack: this build's, or the one `MEPHISTO_HOSTILE_BIN` names (to
/// run the suite against an older build for comparison).
pub fn binary() -> String {
    std::env::var("MEPHISTO_HOSTILE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mephisto").to_string())
}

/// Seconds before a case counts as a hang: 90, or `MEPHISTO_HOSTILE_LIMIT`.
fn default_limit() -> u64 {
    std::env::var("MEPHISTO_HOSTILE_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(90)
}

/// The word the canary file holds, defined twice: Faust's "multiple definitions" error
/// quotes the whole file, so an import that reached it puts the word into Faust's message
/// (and, through the repair rounds, into the requests to the model).
pub const CANARY_WORD: &str = "canarysecret7f3a";

/// The most memory the command may map (its compilers have their own, lower limits).
const ADDRESS_SPACE: u64 = 4 << 30;
/// The most it may keep resident: renders of an hour of audio are refused long before.
const MAX_RSS_BYTES: u64 = 1536 << 20;

/// What a case must end with.
#[derive(Clone, Debug)]
pub enum Expect {
    /// Exit status 1 with an `error:` line containing this.
    Error(&'static str),
    /// Exit status 0 with stdout or stderr containing this.
    Ok(&'static str),
}

/// One attack.
pub struct Case {
    pub family: &'static str,
    pub name: String,
    pub args: Vec<String>,
    pub expect: Expect,
    /// Seconds before the case counts as a hang.
    pub limit: u64,
    /// A signal sent this long after the start (an interrupted compile).
    pub interrupt: Option<(Duration, i32)>,
    /// Extra environment variables.
    pub env: Vec<(&'static str, &'static str)>,
}

impl Case {
    pub fn new(
        family: &'static str,
        name: impl Into<String>,
        args: &[&str],
        expect: Expect,
    ) -> Case {
        Case {
            family,
            name: name.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            expect,
            limit: default_limit(),
            interrupt: None,
            env: Vec::new(),
        }
    }
}

/// How a case went.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub clear_error: bool,
    pub passed_ok: bool,
    pub crash: bool,
    pub hang: bool,
    pub leak: bool,
    pub memory: bool,
    pub orphan: bool,
    pub problem: Option<String>,
    pub seconds: f64,
}

/// The shared place of a run: scratch folder, variant cache, canary.
pub struct Arena {
    pub root: PathBuf,
}

impl Arena {
    pub fn new() -> Arena {
        let root =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("out")).unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        std::fs::write(
            root.join("canary.lib"),
            format!("{CANARY_WORD} = 1;\n{CANARY_WORD} = 2;\n"),
        )
        .unwrap();
        std::fs::write(root.join("canary.txt"), format!("{CANARY_WORD}\n")).unwrap();
        Arena { root }
    }

    pub fn canary(&self) -> String {
        self.root.join("canary.lib").display().to_string()
    }

    pub fn path(&self, name: &str) -> String {
        self.root.join(name).display().to_string()
    }

    pub fn write(&self, name: &str, content: &[u8]) -> String {
        let path = self.root.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Runs a case and judges it.
    pub fn run(&self, case: &Case, index: usize) -> Outcome {
        let tag = format!("hostile-{}-{index}", std::process::id());
        let out_dir = self.root.join("out").join(index.to_string());
        std::fs::create_dir_all(&out_dir).unwrap();
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace("{out}", &out_dir.display().to_string()))
            .collect();
        let stdout_path = out_dir.join("stdout");
        let stderr_path = out_dir.join("stderr");
        let mut cmd = Command::new(binary());
        cmd.args(&args)
            .env(CACHE_DIR_ENV, self.cache())
            .env("HOME", self.root.join("home"))
            .env("MEPHISTO_HOSTILE_TAG", &tag)
            .envs(case.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .process_group(0);
        // SAFETY: setrlimit only, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: ADDRESS_SPACE,
                    rlim_max: ADDRESS_SPACE,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        // Reaped below with `wait4`, which also reports its peak memory.
        #[allow(clippy::zombie_processes)]
        let child = cmd.spawn().expect("mephisto starts");
        let pid = child.id() as libc::pid_t;
        let mut outcome = Outcome::default();
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid place for the result.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let mut interrupted = false;
        loop {
            // SAFETY: waiting for our own child with valid out-pointers.
            let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if done == pid {
                break;
            }
            let elapsed = started.elapsed();
            if let Some((after, signal)) = case.interrupt {
                if !interrupted && elapsed >= after {
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(pid, signal) };
                    interrupted = true;
                }
            }
            if elapsed > Duration::from_secs(case.limit) {
                outcome.hang = true;
                // SAFETY: killing our own child's group.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::wait4(pid, &mut status, 0, &mut usage);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        let read = |p: &Path| {
            let mut text = String::new();
            if let Ok(mut f) = std::fs::File::open(p) {
                let _ = f.by_ref().take(1 << 20).read_to_string(&mut text);
            }
            text
        };
        let (stdout, stderr) = (read(&stdout_path), read(&stderr_path));
        let signaled = libc::WIFSIGNALED(status);
        let expected_signal = case
            .interrupt
            .is_some_and(|(_, s)| signaled && libc::WTERMSIG(status) == s);
        if signaled && !expected_signal && !outcome.hang {
            outcome.crash = true;
            outcome.problem = Some(format!("killed by signal {}", libc::WTERMSIG(status)));
        }
        // The canary may appear in the command line the case gave (a path), never its content.
        outcome.leak = stdout.contains(CANARY_WORD)
            || stderr.contains(CANARY_WORD)
            || files_contain(&out_dir, CANARY_WORD);
        outcome.memory = (usage.ru_maxrss as u64) * 1024 > MAX_RSS_BYTES;
        // Give a killed group a moment to go, then look for anything with our tag.
        std::thread::sleep(Duration::from_millis(50));
        outcome.orphan = kill_tagged_processes(&tag) > 0;
        let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        match (&case.expect, code) {
            _ if expected_signal => outcome.clear_error = true,
            (Expect::Error(needle), Some(1)) => {
                // Progress lines may come first; the error is one `error:` line (its further
                // reasons indented below it).
                let error = stderr
                    .split_once("error: ")
                    .filter(|(before, _)| before.is_empty() || before.ends_with('\n'))
                    .map(|(_, rest)| rest);
                let clear = error.is_some_and(|e| e.contains(needle));
                outcome.clear_error = clear;
                if !clear {
                    outcome.problem = Some(format!(
                        "expected an error with `{needle}`, got: {}",
                        cut(&stderr)
                    ));
                }
            }
            (Expect::Ok(needle), Some(0)) => {
                let ok = stdout.contains(needle) || stderr.contains(needle);
                outcome.passed_ok = ok;
                if !ok {
                    outcome.problem = Some(format!(
                        "expected `{needle}` in the output, got: {}{}",
                        cut(&stdout),
                        cut(&stderr)
                    ));
                }
            }
            _ if outcome.problem.is_none() && !outcome.hang => {
                outcome.problem = Some(format!(
                    "exit {code:?}, expected {:?}: {}{}",
                    case.expect,
                    cut(&stdout),
                    cut(&stderr)
                ));
            }
            _ => {}
        }
        if outcome.hang {
            outcome.problem = Some(format!("no answer within {} s", case.limit));
        }
        let _ = std::fs::remove_dir_all(&out_dir);
        outcome
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn cut(text: &str) -> String {
    text.chars().take(400).collect()
}

fn files_contain(dir: &Path, needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        if path.is_dir() {
            return files_contain(&path, needle);
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if matches!(name.as_deref(), Some("stdout" | "stderr")) {
            return false;
        }
        std::fs::read(&path)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

/// Kills the processes whose environment carries `tag` (a case's command and anything it
/// started, left behind) and says how many there were, so that a run against a build that
/// leaves orphans does not leave them on the machine.
pub fn kill_tagged_processes(tag: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let needle = format!("MEPHISTO_HOSTILE_TAG={tag}\0");
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .filter_map(|e| e.file_name().to_string_lossy().parse::<libc::pid_t>().ok())
        .inspect(|&pid| {
            // SAFETY: a signal to a process this case started (it carries the case's tag).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
        .count()
}
