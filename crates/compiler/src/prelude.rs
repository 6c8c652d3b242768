//! The wrapper's fixed part (`wrapper::prelude_source`) compiled once into an `rlib` and
//! kept in the variant cache, under `prelude/`, keyed like a variant by everything that
//! shapes it (its source, the `rustc` version, the flags, the CPU). Every variant's crate
//! links it, so `rustc` compiles only the DSPs and their one-line exports: on a
//! one-oscillator program that is about 0.11 s of `rustc` instead of 0.18 s
//! (docs/BENCHMARKS.md). The entry is hash-checked like a variant's library before each use
//! and copied into the variant's build folder, the only folder the sandboxed `rustc` reads
//! besides the toolchain.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::cache::{Cache, Key, Lookup};
use crate::sandbox::{Allowed, Confinement};
use crate::toolchain::{run_limited, RunOptions, Tool};
use crate::wrapper::{prelude_source, PRELUDE_CRATE};
use crate::CompileError;

/// The prelude's file name in a variant's build folder (`--extern` wants an `.rlib`).
pub const PRELUDE_RLIB: &str = "libmephisto_prelude.rlib";

/// The folder of the variant cache that holds the prelude's entries.
const PRELUDE_FOLDER: &str = "prelude";

/// The prelude for one toolchain, flags and CPU.
pub struct Prelude {
    cache: Cache,
    key: Key,
    source: String,
}

impl Prelude {
    /// The prelude entry that goes with `rustc` run with `codegen_flags` (shared with the
    /// variants) for `cpu` (`None`: generic code).
    pub fn new(
        variants: &Cache,
        rustc: &Tool,
        codegen_flags: &[&str],
        cpu: Option<&str>,
    ) -> Result<Prelude, CompileError> {
        let folder = variants.root().join(PRELUDE_FOLDER);
        // Something else where the folder belongs (a file, a link) is removed, not followed.
        if fs::symlink_metadata(&folder).is_ok_and(|m| !m.is_dir()) {
            let _ = fs::remove_file(&folder);
        }
        let cache = Cache::open(Some(&folder))?;
        let source = prelude_source();
        let flags = codegen_flags.join(" ");
        let key = Key::new(&[
            ("prelude", source.as_bytes()),
            ("rustc version", rustc.version.as_bytes()),
            ("rustc flags", flags.as_bytes()),
            ("target cpu", cpu.unwrap_or("generic").as_bytes()),
        ]);
        Ok(Prelude { cache, key, source })
    }

    /// The verified library, when it has been built; a damaged entry is removed (and built
    /// again by [`Prelude::build`]).
    pub fn built(&self) -> Option<PathBuf> {
        match self.cache.lookup(&self.key) {
            Lookup::Hit(library) => Some(library),
            Lookup::Miss => None,
            Lookup::Damaged(_) => {
                self.cache.evict(&self.key);
                None
            }
        }
    }

    /// Compiles the prelude with `rustc` (`flags`: the codegen flags and the CPU's) in its
    /// sandbox, publishes it and returns the library.
    pub fn build(
        &self,
        rustc: &Tool,
        flags: &[&str],
        limit: Duration,
        cancel: Option<&AtomicBool>,
    ) -> Result<PathBuf, CompileError> {
        let staging = self.cache.stage(&self.key)?;
        let dir = staging.dir();
        let source = dir.join("prelude.rs");
        fs::write(&source, &self.source).map_err(|e| {
            CompileError::Cache(format!(
                "cannot write the wrapper's prelude in `{}`: {e}",
                dir.display()
            ))
        })?;
        let jail = Confinement::new(
            &Allowed::rustc(&rustc.path, dir),
            crate::limits::ChildLimits::rustc(limit),
        )?;
        let library = staging.library();
        let mut cmd = std::process::Command::new(&rustc.path);
        cmd.current_dir(dir)
            .args(["--crate-type", "rlib", "--crate-name", PRELUDE_CRATE])
            .args(flags)
            .arg("-o")
            .arg(&library)
            .arg("prelude.rs");
        let run = run_limited(
            cmd,
            &RunOptions {
                stage: "Rust compilation of the wrapper's prelude",
                limit,
                scratch: dir,
                confinement: Some(&jail),
                cancel,
            },
        )?;
        if !run.status.success() || !library.is_file() {
            let first = run
                .stderr
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or("rustc failed without a message");
            return Err(CompileError::Rustc(format!(
                "the wrapper's prelude did not compile ({first}); the Rust toolchain may be incomplete: reinstall it with rustup"
            )));
        }
        // The entry keeps its source beside the library, as a variant's keeps its wrapper.
        staging.publish()
    }
}

/// Copies the prelude `library` into a variant's build folder under [`PRELUDE_RLIB`].
pub fn copy_into(library: &Path, dir: &Path) -> Result<(), CompileError> {
    fs::copy(library, dir.join(PRELUDE_RLIB))
        .map(|_| ())
        .map_err(|e| {
            CompileError::Cache(format!(
                "cannot copy the wrapper's prelude into `{}`: {e}",
                dir.display()
            ))
        })
}
