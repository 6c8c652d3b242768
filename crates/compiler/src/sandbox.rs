//! The operating system's fence around `faust` and `rustc`: each runs confined by Landlock
//! to the files it needs (the Faust libraries, the toolchain, the system libraries) for
//! reading and to its job's build folder for writing, with no TCP, in its own process
//! group, with kernel limits on CPU time, address space and file size, and killed when the
//! thread that started it dies. Screening keeps working as a second layer, and where the
//! kernel cannot enforce Landlock it is the only one (the compiler says so once).
//!
//! The ruleset is built in the parent (it opens the allowed folders); the child only makes
//! the two system calls that apply it, between `fork` and `exec`, where nothing may
//! allocate.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr,
    Scope, ABI,
};

use crate::limits::ChildLimits;
use crate::CompileError;

/// Set to `1` to run the compilers without Landlock, as on a kernel without it (tests of
/// the fallback; never needed otherwise).
pub const NO_LANDLOCK_ENV: &str = "MEPHISTO_NO_LANDLOCK";

/// The ABI Landlock rulesets are written for: everything up to it is used when the kernel
/// has it (ABI 4 adds TCP, 6 scoping of signals and abstract sockets).
const TARGET_ABI: ABI = ABI::V6;

/// System files every dynamically linked program needs to start.
const LOADER_FILES: &[&str] = &[
    "/lib",
    "/lib64",
    "/lib32",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
    "/etc/ld.so.cache",
    "/dev/null",
    "/dev/urandom",
];

/// What the toolchain behind `rustc` needs besides its own folder: the C compiler driver
/// and linker `rustc` starts (`cc`, `ld`, under /usr and /etc/alternatives), and their
/// libraries.
const LINKER_FILES: &[&str] = &["/usr", "/bin", "/etc/alternatives"];

pub use crate::sandbox_status::SandboxStatus;

/// Landlock's state on this machine.
pub fn status() -> &'static SandboxStatus {
    static STATUS: OnceLock<SandboxStatus> = OnceLock::new();
    STATUS.get_or_init(|| {
        if std::env::var_os(NO_LANDLOCK_ENV).is_some_and(|v| v == "1") {
            return SandboxStatus::Unavailable(format!("{NO_LANDLOCK_ENV}=1"));
        }
        // SAFETY: asking the ABI version passes no pointers the kernel writes through.
        let abi = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                1u32, // LANDLOCK_CREATE_RULESET_VERSION
            )
        };
        if abi >= 1 {
            SandboxStatus::Enforced { abi: abi as i32 }
        } else {
            SandboxStatus::Unavailable(format!(
                "the kernel does not enforce Landlock: {}",
                std::io::Error::last_os_error()
            ))
        }
    })
}

/// The files one compiler may reach.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    /// Read (and execute) below each.
    pub read: Vec<PathBuf>,
    /// Read and write below each: the job's build folder.
    pub write: Vec<PathBuf>,
}

impl Allowed {
    /// `faust`: its executable, the Faust library folders, the system libraries, and the
    /// build folder (the program, `mephisto.lib`, its output).
    pub fn faust(faust: &Path, libraries: &[PathBuf], job: &Path) -> Allowed {
        let mut read = vec![canonical(faust)];
        read.extend(libraries.iter().cloned());
        read.extend(LOADER_FILES.iter().map(PathBuf::from));
        Allowed {
            read,
            write: vec![job.to_path_buf()],
        }
    }

    /// `rustc`: its toolchain (the folder above its `bin`, or rustup's toolchains when it is
    /// the rustup proxy), the system's linker and libraries, and the build folder.
    pub fn rustc(rustc: &Path, job: &Path) -> Allowed {
        let real = canonical(rustc);
        let mut read = vec![real.clone()];
        if crate::toolchain::is_rustup_proxy(&real) {
            read.push(crate::toolchain::rustup_home());
        } else if let Some(prefix) = real.parent().and_then(Path::parent) {
            read.push(prefix.to_path_buf());
        }
        read.extend(LOADER_FILES.iter().map(PathBuf::from));
        read.extend(LINKER_FILES.iter().map(PathBuf::from));
        Allowed {
            read,
            write: vec![job.to_path_buf()],
        }
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A Landlock ruleset and kernel limits, ready to apply to a child process.
#[derive(Debug)]
pub struct Confinement {
    /// `None` where the kernel cannot enforce Landlock.
    ruleset: Option<OwnedFd>,
    limits: ChildLimits,
    /// The child's `TMPDIR` (the build folder: nothing else is writable).
    temp: PathBuf,
}

impl Confinement {
    /// Builds the ruleset for `allowed` (only where Landlock is enforced).
    pub fn new(allowed: &Allowed, limits: ChildLimits) -> Result<Confinement, CompileError> {
        let ruleset = if status().enforced() {
            let fd = ruleset(allowed).map_err(|e| {
                CompileError::Sandbox(format!("cannot build the Landlock ruleset: {e}"))
            })?;
            Some(fd.ok_or_else(|| {
                CompileError::Sandbox("the kernel did not create the Landlock ruleset".into())
            })?)
        } else {
            None
        };
        let temp = allowed
            .write
            .first()
            .cloned()
            .unwrap_or_else(std::env::temp_dir);
        Ok(Confinement {
            ruleset,
            limits,
            temp,
        })
    }

    /// Makes `cmd` start in its own process group, confined and limited.
    pub fn apply(&self, cmd: &mut Command) {
        let fd = self.ruleset.as_ref().map(|fd| fd.as_raw_fd());
        let limits = self.limits;
        cmd.process_group(0).env("TMPDIR", &self.temp);
        // SAFETY: the closure runs in the child between fork and exec and only makes system
        // calls (no allocation, no locks): setrlimit, prctl, landlock_restrict_self.
        unsafe {
            cmd.pre_exec(move || confine_self(fd, limits));
        }
    }
}

/// In the child: kernel limits, death with the parent thread, then Landlock.
fn confine_self(ruleset: Option<i32>, limits: ChildLimits) -> std::io::Result<()> {
    let fail = || Err(std::io::Error::last_os_error());
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value as libc::rlim_t,
            rlim_max: value as libc::rlim_t,
        };
        // SAFETY: `limit` is a valid rlimit.
        unsafe { libc::setrlimit(resource, &limit) }
    };
    if set(libc::RLIMIT_CPU, limits.cpu_seconds) != 0
        || set(libc::RLIMIT_AS, limits.address_space) != 0
        || set(libc::RLIMIT_FSIZE, limits.file_size) != 0
        || set(libc::RLIMIT_CORE, 0) != 0
    {
        return fail();
    }
    // SAFETY: plain prctl/syscall calls with integer arguments.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            return fail();
        }
        if let Some(fd) = ruleset {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0
            {
                return fail();
            }
        }
    }
    Ok(())
}

/// A ruleset that handles every file-system right and TCP, and scopes signals and abstract
/// sockets, with `allowed`'s folders as the only exceptions.
fn ruleset(allowed: &Allowed) -> Result<Option<OwnedFd>, landlock::RulesetError> {
    let created = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))?
        .handle_access(AccessNet::from_all(TARGET_ABI))?
        .scope(Scope::from_all(TARGET_ABI))?
        .create()?
        .add_rules(path_beneath_rules(
            &allowed.read,
            AccessFs::from_read(TARGET_ABI),
        ))?
        .add_rules(path_beneath_rules(
            &allowed.write,
            AccessFs::from_all(TARGET_ABI),
        ))?;
    Ok(created.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::{run_limited, RunOptions};
    use std::time::Duration;

    /// A folder with a planted secret outside anything a compiler may read, and a build
    /// folder.
    fn planted(name: &str) -> (PathBuf, PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!(
            "mephisto-sandbox-{name}-{}",
            crate::cache::unique_suffix()
        ));
        let job = root.join("job");
        std::fs::create_dir_all(&job).unwrap();
        let secret = root.join("secret.lib");
        std::fs::write(&secret, "canary = 4242;\n").unwrap();
        (root, job, secret)
    }

    fn run_in(confinement: &Confinement, job: &Path, program: &str, args: &[&str]) -> String {
        let mut cmd = Command::new(program);
        cmd.args(args);
        let finished = run_limited(
            cmd,
            &RunOptions {
                stage: "test",
                limit: Duration::from_secs(20),
                scratch: job,
                confinement: Some(confinement),
                cancel: None,
            },
        )
        .unwrap();
        format!("{}{}", finished.stdout, finished.stderr)
    }

    #[test]
    fn a_confined_process_reads_only_what_is_allowed() {
        if !status().enforced() {
            eprintln!("Landlock is not enforced here: {:?}", status());
            return;
        }
        let (root, job, secret) = planted("read");
        let mut allowed = Allowed::faust(Path::new("/bin/cat"), &[], &job);
        allowed.read.extend(["/usr", "/bin"].map(PathBuf::from));
        let confinement =
            Confinement::new(&allowed, ChildLimits::faust(Duration::from_secs(5))).unwrap();
        let inside = job.join("inside.txt");
        std::fs::write(&inside, "allowed text").unwrap();
        let secret = secret.to_string_lossy().into_owned();
        let output = run_in(&confinement, &job, "cat", &[&secret]);
        assert!(!output.contains("4242"), "{output}");
        assert!(output.contains("Permission denied"), "{output}");
        let output = run_in(&confinement, &job, "cat", &[&inside.to_string_lossy()]);
        assert_eq!(output, "allowed text");
        // Writing outside the build folder is refused too.
        let outside = root.join("written.txt");
        let output = run_in(
            &confinement,
            &job,
            "sh",
            &["-c", &format!("echo x > {}", outside.display())],
        );
        assert!(!outside.exists(), "{output}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn kernel_limits_stop_a_process_that_eats_memory() {
        let (root, job, _) = planted("limits");
        let limits = ChildLimits {
            cpu_seconds: 5,
            address_space: 256 << 20,
            file_size: 1 << 20,
        };
        let allowed = Allowed {
            read: vec![PathBuf::from("/")],
            write: vec![job.clone()],
        };
        let confinement = Confinement::new(&allowed, limits).unwrap();
        // A file larger than RLIMIT_FSIZE cannot be written.
        let big = job.join("big");
        let _ = run_in(
            &confinement,
            &job,
            "sh",
            &[
                "-c",
                &format!("head -c 4000000 /dev/zero > {}", big.display()),
            ],
        );
        assert!(std::fs::metadata(&big).map_or(0, |m| m.len()) <= 1 << 20);
        std::fs::remove_dir_all(root).unwrap();
    }
}
