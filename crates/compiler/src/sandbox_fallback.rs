//! Where Landlock does not exist (systems other than Linux): the same interface, with the
//! compilers run in their own process group and no file-system fence. Screening, which
//! refuses every import but the allowed libraries by name, is then the only layer, and
//! the compiler says so once.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::limits::ChildLimits;
use crate::CompileError;

/// See the Linux module; never read here.
pub const NO_LANDLOCK_ENV: &str = "MEPHISTO_NO_LANDLOCK";

pub use crate::sandbox_status::SandboxStatus;

pub fn status() -> &'static SandboxStatus {
    static STATUS: std::sync::OnceLock<SandboxStatus> = std::sync::OnceLock::new();
    STATUS.get_or_init(|| SandboxStatus::Unavailable("Landlock is Linux's".into()))
}

#[derive(Debug, Clone, Default)]
pub struct Allowed {
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
}

impl Allowed {
    pub fn faust(_faust: &Path, _libraries: &[PathBuf], job: &Path) -> Allowed {
        Allowed {
            read: Vec::new(),
            write: vec![job.to_path_buf()],
        }
    }

    pub fn rustc(_rustc: &Path, job: &Path) -> Allowed {
        Allowed {
            read: Vec::new(),
            write: vec![job.to_path_buf()],
        }
    }
}

#[derive(Debug)]
pub struct Confinement {
    temp: PathBuf,
}

impl Confinement {
    pub fn new(allowed: &Allowed, _limits: ChildLimits) -> Result<Confinement, CompileError> {
        Ok(Confinement {
            temp: allowed
                .write
                .first()
                .cloned()
                .unwrap_or_else(std::env::temp_dir),
        })
    }

    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("TMPDIR", &self.temp);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(cmd, 0);
    }
}
