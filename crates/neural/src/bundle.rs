//! Where the bundle that holds this code keeps what it carries: ONNX Runtime and the neural
//! models (`cargo xtask bundle` puts them there). The rule, for a binary file `DIR/NAME.EXT`
//! (found with `dladdr`: the plugin's `.so`/`.clap` inside the host, or the executable):
//!
//! * libraries: `DIR/` itself (a VST3 bundle's `Contents/x86_64-linux/`) and
//!   `DIR/NAME.support/` (beside a single-file CLAP plugin or the standalone app);
//! * models: `DIR/NAME.support/models/` and, in a VST3 bundle, `DIR/../Resources/models/`.
//!
//! Both the path the loader used and the file it resolves to are looked at, so a link to a
//! bundle in a plugin folder finds the files beside the real bundle too.

use std::ffi::{CStr, OsStr};
use std::path::{Path, PathBuf};

/// The suffix of the folder beside a single-file bundle.
pub const SUPPORT_SUFFIX: &str = "support";

/// The folders that may hold the bundle's shared libraries, most specific first.
pub fn library_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for file in binary_files() {
        if let Some(dir) = file.parent() {
            push_new(&mut dirs, dir.to_path_buf());
            push_new(&mut dirs, support_dir(&file));
        }
    }
    dirs
}

/// The folders that may hold the bundle's neural models.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for file in binary_files() {
        push_new(&mut dirs, support_dir(&file).join("models"));
        if let Some(contents) = file.parent().and_then(Path::parent) {
            push_new(&mut dirs, contents.join("Resources").join("models"));
        }
    }
    dirs
}

/// `DIR/NAME.support` for `DIR/NAME.EXT`.
fn support_dir(file: &Path) -> PathBuf {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    file.with_file_name(format!("{stem}.{SUPPORT_SUFFIX}"))
}

fn push_new(dirs: &mut Vec<PathBuf>, dir: PathBuf) {
    if !dirs.contains(&dir) {
        dirs.push(dir);
    }
}

/// The binary holding this code as loaded and as resolved, then the process's executable.
fn binary_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(loaded) = this_binary() {
        if let Ok(real) = std::fs::canonicalize(&loaded) {
            push_new(&mut files, loaded);
            push_new(&mut files, real);
        } else {
            push_new(&mut files, loaded);
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        push_new(&mut files, exe);
    }
    files
}

/// The file of the shared object (or executable) that contains this function.
#[cfg(unix)]
pub fn this_binary() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr only reads the address and fills `info`; the name it returns points into
    // the loader's own tables and is copied before we return.
    let found = unsafe { libc::dladdr(this_binary as *const libc::c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr succeeded, so `dli_fname` is a NUL-terminated path.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(OsStr::from_bytes(name.to_bytes()));
    // A relative name is relative to where the process started; make it absolute.
    Some(std::path::absolute(&path).unwrap_or(path))
}

#[cfg(not(unix))]
pub fn this_binary() -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_file_bundle_keeps_its_files_in_a_support_folder() {
        assert_eq!(
            support_dir(Path::new("/home/u/.clap/Mephisto.clap")),
            Path::new("/home/u/.clap/Mephisto.support")
        );
        assert_eq!(
            support_dir(Path::new("/opt/mephisto/Mephisto")),
            Path::new("/opt/mephisto/Mephisto.support")
        );
    }

    #[test]
    fn this_test_binary_is_found_and_searched_first() {
        let me = this_binary().expect("dladdr finds the test executable");
        assert!(me.is_absolute() && me.is_file(), "{}", me.display());
        let dirs = library_dirs();
        assert_eq!(dirs.first().map(PathBuf::as_path), me.parent());
        assert!(dirs.contains(&support_dir(&me)));
        assert!(model_dirs().contains(&support_dir(&me).join("models")));
    }
}
