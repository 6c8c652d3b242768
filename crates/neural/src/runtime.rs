//! Finds ONNX Runtime on the machine and loads it, once per process. The plugin links no ONNX
//! Runtime and downloads nothing: the library comes from beside the plugin (the one its
//! bundle carries, see [`crate::bundle`]), from the user's setting, from `ORT_DYLIB_PATH`,
//! or from the `onnxruntime` Python wheel (the project's venv, then whatever `python3`
//! imports). A missing or unusable library is an
//! `Err` that says where we looked and what to install, never a panic.

use std::ffi::{c_char, CStr};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

use crate::NeuralError;

/// What to do when no library is found or it cannot be used.
const ADVICE: &str = "install the ONNX Runtime Python wheel (`pip install onnxruntime`, or \
                      `onnxruntime-gpu` for CUDA; `scripts/setup_python.sh` sets up the \
                      project's venv) or set ORT_DYLIB_PATH to a libonnxruntime shared library";

/// The environment variable naming the project's Python venv.
const VENV_VARIABLE: &str = "MEPHISTO_VENV";

/// The environment variable `ort` itself honours; we honour it too, in the same place.
const PATH_VARIABLE: &str = "ORT_DYLIB_PATH";

/// Where the loaded library was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibrarySource {
    /// The path the user set.
    Setting,
    /// `ORT_DYLIB_PATH`.
    EnvironmentVariable,
    /// Carried by the plugin's bundle: beside the plugin binary (or the executable), or in
    /// its `NAME.support` folder.
    BesidePlugin,
    /// The project's Python venv (`$MEPHISTO_VENV`, else `~/.cache/mephisto/venv`).
    ProjectVenv,
    /// The `onnxruntime` package `python3` imports.
    Python,
}

impl fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibrarySource::Setting => "the settings",
            LibrarySource::EnvironmentVariable => PATH_VARIABLE,
            LibrarySource::BesidePlugin => "beside the plugin",
            LibrarySource::ProjectVenv => "the project's Python venv",
            LibrarySource::Python => "python3's onnxruntime package",
        })
    }
}

/// The execution provider a decoder session runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Cuda,
    Cpu,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Cuda => "CUDA",
            Provider::Cpu => "CPU",
        })
    }
}

/// ONNX Runtime, loaded: the process's one ONNX Runtime environment and where it came from.
pub struct Runtime {
    /// The shared library file.
    pub library: PathBuf,
    pub source: LibrarySource,
    /// ONNX Runtime's own version string, e.g. "1.22.0".
    pub version: String,
    /// Sessions are created in it.
    pub(crate) environment: Environment,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("source", &self.source)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ONNX Runtime {} from {} (`{}`)",
            self.version,
            self.source,
            self.library.display()
        )
    }
}

/// The library `ort` loaded: a process can load ONNX Runtime only once.
static LOADED_LIBRARY: OnceLock<(PathBuf, LibrarySource, String)> = OnceLock::new();

/// The environment built on it.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Serialises loading, so two threads cannot load two libraries.
static LOADING: Mutex<()> = Mutex::new(());

/// The oldest ONNX Runtime minor version this build of `ort` accepts (1.x).
pub fn minimum_minor_version() -> u32 {
    ort::MINOR_VERSION
}

/// Finds ONNX Runtime (see [`find_library`]) and loads it, or returns the one already
/// loaded. `explicit` is the user's setting. Once a library is loaded, asking for another
/// file explicitly is an error: it takes effect only after a restart.
pub fn load(explicit: Option<&Path>) -> Result<&'static Runtime, NeuralError> {
    load_library(explicit).map_err(NeuralError::Runtime)
}

fn load_library(explicit: Option<&Path>) -> Result<&'static Runtime, String> {
    let _loading = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    match LOADED_LIBRARY.get() {
        None => {
            let (path, source) = find_library(explicit)?;
            let version = library_version(&path)?;
            ort::init_from(&path).map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from `{}` ({source}): {e}; {ADVICE}",
                    path.display()
                )
            })?;
            // Cannot fail: we hold `LOADING` and saw it empty.
            let _ = LOADED_LIBRARY.set((path, source, version));
        }
        Some((loaded, _, _)) => {
            if let Some(path) = explicit {
                let (path, _) = find_library(Some(path))?;
                if !same_file(loaded, &path) {
                    return Err(format!(
                        "ONNX Runtime is already loaded from `{}`; `{}` takes effect after a \
                         restart",
                        loaded.display(),
                        path.display()
                    ));
                }
            }
        }
    }
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let (library, source, version) = LOADED_LIBRARY
        .get()
        .cloned()
        .expect("set above or by an earlier call");
    let environment = ort::init()
        .with_name("mephisto")
        .with_telemetry(false)
        .build()
        .map_err(|e| {
            format!(
                "ONNX Runtime {version} from `{}` loaded but cannot create its environment: {e}",
                library.display()
            )
        })?;
    Ok(RUNTIME.get_or_init(|| Runtime {
        library,
        source,
        version,
        environment,
    }))
}

/// Finds the ONNX Runtime shared library, in order: the one the plugin's bundle carries
/// (beside the plugin binary, [`crate::bundle::library_dirs`]: the library the plugin was
/// built and tested against), `explicit` (the user's setting), `ORT_DYLIB_PATH`, the
/// project's venv (`$MEPHISTO_VENV`, else `~/.cache/mephisto/venv`), and the `onnxruntime`
/// package that `python3` imports. A setting or variable naming a file that does not exist
/// is an error (not a reason to look elsewhere): the user asked for that file.
pub fn find_library(explicit: Option<&Path>) -> Result<(PathBuf, LibrarySource), String> {
    let mut searched = Vec::new();
    for dir in crate::bundle::library_dirs() {
        if let Some(found) = library_in(&dir) {
            return Ok((found, LibrarySource::BesidePlugin));
        }
        searched.push(format!("`{}`", dir.display()));
    }
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok((path.to_path_buf(), LibrarySource::Setting))
        } else {
            Err(format!(
                "the ONNX Runtime library set in the settings, `{}`, does not exist; point the \
                 setting at a libonnxruntime shared library, or clear it to search the usual \
                 places",
                path.display()
            ))
        };
    }
    if let Some(value) = std::env::var_os(PATH_VARIABLE).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if path.is_file() {
            Ok((path, LibrarySource::EnvironmentVariable))
        } else {
            Err(format!(
                "{PATH_VARIABLE} names `{}`, which does not exist; {ADVICE}",
                path.display()
            ))
        };
    }
    let venv = venv_dir();
    for capi in venv_capi_dirs(&venv) {
        if let Some(found) = library_in(&capi) {
            return Ok((found, LibrarySource::ProjectVenv));
        }
    }
    searched.push(format!(
        "the venv `{}` (set {VENV_VARIABLE} to use another)",
        venv.display()
    ));
    match python_capi_dir() {
        Ok(capi) => {
            if let Some(found) = library_in(&capi) {
                return Ok((found, LibrarySource::Python));
            }
            searched.push(format!("`{}`", capi.display()));
        }
        Err(why) => searched.push(format!("python3 ({why})")),
    }
    Err(format!(
        "ONNX Runtime not found: {PATH_VARIABLE} is not set and no libonnxruntime shared \
         library is in {}; {ADVICE}",
        searched.join(", ")
    ))
}

/// Whether `name` is the ONNX Runtime library itself (not one of its provider plugins).
fn is_runtime_library(name: &str) -> bool {
    let plain = plain_name();
    name == plain
        || name.starts_with(&format!("{plain}."))
        || (name.starts_with("libonnxruntime.") && name.ends_with(".dylib"))
}

/// `libonnxruntime.so` on Linux.
fn plain_name() -> String {
    format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The ONNX Runtime library in `dir`: the unversioned name if present, else the highest
/// versioned one (the Python wheel ships only `libonnxruntime.so.1.x.y`).
fn library_in(dir: &Path) -> Option<PathBuf> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .filter(|name| is_runtime_library(name))
        .collect();
    let plain = plain_name();
    let pick = names
        .iter()
        .find(|name| **name == plain)
        .or_else(|| names.iter().max_by_key(|name| version_key(name)))?;
    Some(dir.join(pick))
}

/// `libonnxruntime.so.1.22.0` → [1, 22, 0]; an unversioned name sorts first.
fn version_key(name: &str) -> Vec<u32> {
    name.split('.')
        .filter_map(|part| part.parse::<u32>().ok())
        .collect()
}

/// `$MEPHISTO_VENV`, else `~/.cache/mephisto/venv` (where `scripts/setup_python.sh` puts it).
fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(VENV_VARIABLE).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("mephisto").join("venv")
}

/// `VENV/lib/python3.*/site-packages/onnxruntime/capi` for every Python in the venv (and the
/// Windows layout `VENV/Lib/site-packages/...`).
fn venv_capi_dirs(venv: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(venv.join("lib")) {
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .map(|e| e.path())
            .collect();
        pythons.sort();
        for python in pythons {
            dirs.push(
                python
                    .join("site-packages")
                    .join("onnxruntime")
                    .join("capi"),
            );
        }
    }
    dirs.push(
        venv.join("Lib")
            .join("site-packages")
            .join("onnxruntime")
            .join("capi"),
    );
    dirs
}

/// Asks `python3` where its `onnxruntime` package lives; the library is in its `capi` folder.
fn python_capi_dir() -> Result<PathBuf, String> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if !output.status.success() {
        return Err("it has no onnxruntime package".to_string());
    }
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if dir.is_empty() {
        return Err("it printed no onnxruntime folder".to_string());
    }
    Ok(PathBuf::from(dir).join("capi"))
}

/// Reads ONNX Runtime's version from the library before `ort` commits to it, so that a file
/// that is not ONNX Runtime, or one too old, gets a message that says so.
fn library_version(path: &Path) -> Result<String, String> {
    // SAFETY: loading a shared library runs its initialisers; this is the library the user or
    // the search picked as ONNX Runtime, which `ort` is about to load anyway.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
        format!(
            "`{}` is not a loadable ONNX Runtime library: {e}; {ADVICE}",
            path.display()
        )
    })?;
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let get_api_base = unsafe { library.get::<GetApiBase>(b"OrtGetApiBase") }.map_err(|_| {
        format!(
            "`{}` is not ONNX Runtime (it has no `OrtGetApiBase`); {ADVICE}",
            path.display()
        )
    })?;
    // SAFETY: the function takes nothing and returns a pointer to a static table.
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return Err(format!(
            "`{}` returned no ONNX Runtime API; {ADVICE}",
            path.display()
        ));
    }
    // SAFETY: `base` points to the library's static `OrtApiBase`, whose version string is a
    // static NUL-terminated string.
    let version: *const c_char = unsafe { ((*base).GetVersionString)() };
    let version = unsafe { CStr::from_ptr(version) }
        .to_string_lossy()
        .into_owned();
    let minor = version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    if minor < minimum_minor_version() {
        return Err(format!(
            "ONNX Runtime {version} at `{}` is too old: Mephisto needs 1.{} or newer; {ADVICE}",
            path.display(),
            minimum_minor_version()
        ));
    }
    Ok(version)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_runtime_library_and_not_its_providers() {
        assert!(is_runtime_library("libonnxruntime.so"));
        assert!(is_runtime_library("libonnxruntime.so.1.22.0"));
        assert!(!is_runtime_library("libonnxruntime_providers_shared.so"));
        assert!(!is_runtime_library("libonnxruntime_providers_cuda.so"));
        assert!(!is_runtime_library("onnxruntime_pybind11_state.so"));
    }

    #[test]
    fn picks_the_newest_versioned_library_in_a_folder() {
        let dir = std::env::temp_dir().join(format!("mephisto-ort-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.22.1",
            "libonnxruntime_providers_shared.so",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        assert_eq!(library_in(&dir), Some(dir.join("libonnxruntime.so.1.22.1")));
        std::fs::write(dir.join("libonnxruntime.so"), b"").unwrap();
        assert_eq!(library_in(&dir), Some(dir.join("libonnxruntime.so")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_explicit_library_is_a_clear_error() {
        let missing = Path::new("/nonexistent/libonnxruntime.so");
        let err = load(Some(missing)).unwrap_err();
        assert!(matches!(err, NeuralError::Runtime(_)), "{err:?}");
        let err = err.to_string();
        assert!(err.contains("/nonexistent/libonnxruntime.so"), "{err}");
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_library_is_a_clear_error() {
        let path = std::env::temp_dir().join(format!("mephisto-not-ort-{}.so", std::process::id()));
        std::fs::write(&path, b"this is not a shared library").unwrap();
        let err = library_version(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains("not a loadable ONNX Runtime library"), "{err}");
        assert!(err.contains("pip install onnxruntime"), "{err}");
    }
}
