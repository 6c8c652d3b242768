//! `cargo xtask bundle mephisto [--release] [cargo build options]`: the plugin bundles and the
//! standalone app, each carrying what it needs at run time.
//!
//! nice-plug's bundler makes `Mephisto.clap` and `Mephisto.vst3` from the plugin library; as
//! its standalone it would copy a binary named after the package, which in this workspace is
//! the `mephisto` command line (crates/cli), not the app. So the standalone
//! (`mephisto-standalone`, feature `standalone`) is built here, in its own cargo call so the
//! plugin library never links the audio backends, and copied to `Mephisto`.
//!
//! Each bundle then gets the ONNX Runtime shared library the plugin was built against (the
//! `onnxruntime` wheel of the project's venv, `scripts/setup_python.sh`), its licence and
//! notices, and the shipped neural models (`onnx/models`):
//!
//! | bundle | ONNX Runtime and licences | models |
//! | --- | --- | --- |
//! | `Mephisto.vst3` | `Contents/x86_64-linux/` beside `Mephisto.so` | `Contents/Resources/models/` |
//! | `Mephisto.clap`, `Mephisto` (standalone) | `Mephisto.support/` beside the file | `Mephisto.support/models/` |
//!
//! The plugin looks there first (`mephisto_neural::bundle`), so a copied bundle needs no
//! venv and no path in the settings.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run_step;

/// The bundle name (bundler.toml) and package.
pub const NAME: &str = "Mephisto";
pub const PACKAGE: &str = "mephisto";
const STANDALONE_BIN: &str = "mephisto-standalone";
/// The folder beside a single-file bundle that holds its libraries and models.
pub const SUPPORT_DIR: &str = "Mephisto.support";
const MODELS_DIR: &str = "onnx/models";
/// Where the VST3 keeps this architecture's binaries.
pub const VST3_BINARY_DIR: &str = "Contents/x86_64-linux";

/// The built bundles under `target/bundled`.
pub struct Bundles {
    pub dir: PathBuf,
}

impl Bundles {
    pub fn clap(&self) -> PathBuf {
        self.dir.join(format!("{NAME}.clap"))
    }
    pub fn vst3(&self) -> PathBuf {
        self.dir.join(format!("{NAME}.vst3"))
    }
    pub fn standalone(&self) -> PathBuf {
        self.dir.join(NAME)
    }
    pub fn support(&self) -> PathBuf {
        self.dir.join(SUPPORT_DIR)
    }
}

/// `args`: what follows `bundle mephisto` (cargo build options such as `--release`).
pub fn run(args: &[String]) -> Result<Bundles, String> {
    let target = target_dir();
    let packages = [PACKAGE.to_string()];
    nice_plug_xtask::build(&packages, args).map_err(|e| format!("{e:#}"))?;
    nice_plug_xtask::bundle(&target, PACKAGE, args, false).map_err(|e| format!("{e:#}"))?;
    let bundles = Bundles {
        dir: target.join("bundled"),
    };

    run_step(
        Command::new("cargo")
            .args(["build", "-p", PACKAGE, "--bin", STANDALONE_BIN])
            .args(["--features", "standalone"])
            .args(args),
        "building the standalone app",
    )?;
    let built = target.join(profile_dir(args)).join(STANDALONE_BIN);
    // A copy, not a link: the bundle must stay valid when target/ is rebuilt.
    replace_file(&built, &bundles.standalone())?;
    eprintln!(
        "Created the standalone app at '{}' (`{NAME} --help`)",
        bundles.standalone().display()
    );

    let support = bundles.support();
    remove_any(&support)?;
    let vst3_binaries = bundles.vst3().join(VST3_BINARY_DIR);
    let vst3_models = bundles.vst3().join("Contents/Resources/models");
    remove_any(&vst3_models)?;
    for dir in [&support, &vst3_binaries] {
        for old in fs::read_dir(dir).into_iter().flatten().flatten() {
            if old
                .file_name()
                .to_string_lossy()
                .starts_with("libonnxruntime")
            {
                remove_any(&old.path())?;
            }
        }
    }
    copy_models(&support.join("models"))?;
    copy_models(&vst3_models)?;
    match onnxruntime_wheel() {
        Ok(wheel) => {
            for dir in [&support, &vst3_binaries] {
                wheel.copy_into(dir)?;
            }
            eprintln!(
                "ONNX Runtime {} ({}) is in '{}' and '{}' (MIT licence, copied beside it)",
                wheel.version(),
                wheel.library.display(),
                support.display(),
                vst3_binaries.display()
            );
        }
        Err(why) => eprintln!(
            "WARNING: the bundles carry no ONNX Runtime: {why}. Neural patches will look for \
             it in the settings, ORT_DYLIB_PATH or the venv; run `bash scripts/setup_python.sh` \
             and bundle again to make the bundles self-contained."
        ),
    }
    Ok(bundles)
}

/// `target/` (or `$CARGO_TARGET_DIR`), from the workspace root.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The profile's output folder, read from the cargo options as nice-plug's bundler does.
fn profile_dir(args: &[String]) -> String {
    let mut profile = "debug".to_string();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--release" => profile = "release".into(),
            "--profile" => {
                if let Some(name) = args.next() {
                    profile = name.clone();
                }
            }
            other => {
                if let Some(name) = other.strip_prefix("--profile=") {
                    profile = name.to_string();
                }
            }
        }
    }
    // Cargo's `dev` profile writes to `debug`.
    if profile == "dev" {
        "debug".into()
    } else {
        profile
    }
}

/// The ONNX Runtime of the project's venv: the library and the licence files of its wheel.
struct Wheel {
    library: PathBuf,
    licence: PathBuf,
    notices: PathBuf,
}

impl Wheel {
    fn version(&self) -> String {
        let name = self
            .library
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        name.trim_start_matches("libonnxruntime.so.").to_string()
    }

    fn copy_into(&self, dir: &Path) -> Result<(), String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let name = self.library.file_name().expect("a file");
        copy(&self.library, &dir.join(name))?;
        copy(&self.licence, &dir.join("onnxruntime-LICENSE.txt"))?;
        copy(
            &self.notices,
            &dir.join("onnxruntime-ThirdPartyNotices.txt"),
        )
    }
}

/// Finds `onnxruntime/capi/libonnxruntime.so.*` in `$MEPHISTO_VENV` (else
/// `~/.cache/mephisto/venv`), as `scripts/setup_python.sh` installs it.
fn onnxruntime_wheel() -> Result<Wheel, String> {
    let venv = std::env::var_os("MEPHISTO_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/mephisto/venv")))
        .ok_or("neither MEPHISTO_VENV nor HOME is set")?;
    let lib = venv.join("lib");
    let packages = fs::read_dir(&lib)
        .map_err(|_| format!("there is no venv at {}", venv.display()))?
        .flatten()
        .map(|e| e.path().join("site-packages/onnxruntime"))
        .find(|p| p.join("capi").is_dir())
        .ok_or_else(|| format!("the venv {} has no onnxruntime package", venv.display()))?;
    let library = fs::read_dir(packages.join("capi"))
        .map_err(|e| format!("cannot read {}: {e}", packages.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .max()
        .ok_or_else(|| format!("{} holds no libonnxruntime.so", packages.display()))?;
    let wheel = Wheel {
        library,
        licence: packages.join("LICENSE"),
        notices: packages.join("ThirdPartyNotices.txt"),
    };
    for file in [&wheel.licence, &wheel.notices] {
        if !file.is_file() {
            return Err(format!(
                "{} is missing: the library is not shipped without its licence",
                file.display()
            ));
        }
    }
    Ok(wheel)
}

fn copy_models(to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries = fs::read_dir(MODELS_DIR).map_err(|e| format!("cannot read {MODELS_DIR}: {e}"))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_model_file = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("onnx" | "json")
        );
        if is_model_file {
            copy(&path, &to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

pub fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// Copies `from` over `to`, removing what was there first (a running copy keeps its inode).
pub fn replace_file(from: &Path, to: &Path) -> Result<(), String> {
    remove_any(to)?;
    copy(from, to)
}

/// Removes a file, link or folder if it exists.
pub fn remove_any(path: &Path) -> Result<(), String> {
    let result = match fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    result.map_err(|e| format!("cannot remove {}: {e}", path.display()))
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries.flatten() {
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_tree(&source, &dest)?;
        } else {
            copy(&source, &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_profile_folder_follows_the_cargo_options() {
        assert_eq!(profile_dir(&args(&[])), "debug");
        assert_eq!(profile_dir(&args(&["--release"])), "release");
        assert_eq!(
            profile_dir(&args(&["--features", "assert_process_allocs"])),
            "debug"
        );
        assert_eq!(profile_dir(&args(&["--profile", "bench"])), "bench");
        assert_eq!(profile_dir(&args(&["--profile=dev"])), "debug");
    }
}
