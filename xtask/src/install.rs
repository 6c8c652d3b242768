//! `cargo xtask install` builds the release bundles and copies them where hosts look for
//! them; `cargo xtask uninstall` removes exactly what install put there. Per user, no root:
//!
//! | what | where |
//! | --- | --- |
//! | `Mephisto.clap` and its `Mephisto.support/` | `~/.clap/` (CLAP's per-user folder) |
//! | `Mephisto.vst3` | `~/.vst3/` (VST3's per-user folder on Linux) |
//! | the standalone app and its `Mephisto.support/` | `~/.local/lib/mephisto/`, started as `~/.local/bin/mephisto-standalone` (a link) |
//!
//! `$HOME` decides where `~` is.

use std::path::{Path, PathBuf};

use crate::bundle::{self, copy_tree, remove_any, replace_file, Bundles, NAME, SUPPORT_DIR};

/// Every path install writes, in the order it writes them.
struct Places {
    clap: PathBuf,
    clap_support: PathBuf,
    vst3: PathBuf,
    app: PathBuf,
    app_support: PathBuf,
    app_link: PathBuf,
}

impl Places {
    fn under(home: &Path) -> Places {
        let clap_dir = home.join(".clap");
        let app_dir = home.join(".local/lib/mephisto");
        Places {
            clap: clap_dir.join(format!("{NAME}.clap")),
            clap_support: clap_dir.join(SUPPORT_DIR),
            vst3: home.join(".vst3").join(format!("{NAME}.vst3")),
            app: app_dir.join(NAME),
            app_support: app_dir.join(SUPPORT_DIR),
            app_link: home.join(".local/bin/mephisto-standalone"),
        }
    }

    fn all(&self) -> [&Path; 6] {
        [
            &self.clap,
            &self.clap_support,
            &self.vst3,
            &self.app,
            &self.app_support,
            &self.app_link,
        ]
    }
}

fn home() -> Result<PathBuf, String> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| "HOME is not set: cannot tell where the user's plugin folders are".into())
}

pub fn install(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "`install` takes no options (got `{arg}`); it always installs the release build"
        ));
    }
    let bundles = bundle::run(&["--release".to_string()])?;
    let places = Places::under(&home()?);
    copy_bundles(&bundles, &places)?;
    println!("Installed Mephisto:");
    println!("  CLAP        {}", places.clap.display());
    println!("  VST3        {}", places.vst3.display());
    println!(
        "  standalone  {} (runs {})",
        places.app_link.display(),
        places.app.display()
    );
    println!(
        "  ONNX Runtime and the neural models travel with each: {}, {}/{}",
        places.clap_support.display(),
        places.vst3.display(),
        bundle::VST3_BINARY_DIR
    );
    println!("Rescan plugins in your host to find Mephisto (instrument) and Mephisto FX (effect). `cargo xtask uninstall` removes them.");
    Ok(())
}

fn copy_bundles(bundles: &Bundles, places: &Places) -> Result<(), String> {
    for path in places.all() {
        remove_any(path)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
    }
    replace_file(&bundles.clap(), &places.clap)?;
    copy_tree(&bundles.vst3(), &places.vst3)?;
    replace_file(&bundles.standalone(), &places.app)?;
    set_executable(&places.app)?;
    if bundles.support().is_dir() {
        copy_tree(&bundles.support(), &places.clap_support)?;
        copy_tree(&bundles.support(), &places.app_support)?;
    }
    link(&places.app, &places.app_link)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot make {} executable: {e}", path.display()))
}

#[cfg(unix)]
fn link(target: &Path, link: &Path) -> Result<(), String> {
    std::os::unix::fs::symlink(target, link).map_err(|e| {
        format!(
            "cannot link {} to {}: {e}",
            link.display(),
            target.display()
        )
    })
}

pub fn uninstall(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("`uninstall` takes no options (got `{arg}`)"));
    }
    let places = Places::under(&home()?);
    let mut removed = 0;
    for path in places.all() {
        if std::fs::symlink_metadata(path).is_ok() {
            remove_any(path)?;
            println!("removed {}", path.display());
            removed += 1;
        }
    }
    // The app's own folder, once empty.
    if let Some(dir) = places.app.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    if removed == 0 {
        println!("Mephisto is not installed for this user (nothing to remove)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_copies_every_bundle_and_uninstall_removes_them() {
        let root = std::env::temp_dir().join(format!("mephisto-xtask-{}", std::process::id()));
        let built = Bundles {
            dir: root.join("bundled"),
        };
        let vst3_binaries = built.vst3().join(bundle::VST3_BINARY_DIR);
        std::fs::create_dir_all(&vst3_binaries).unwrap();
        std::fs::create_dir_all(built.support().join("models")).unwrap();
        std::fs::write(built.clap(), b"clap").unwrap();
        std::fs::write(built.standalone(), b"app").unwrap();
        std::fs::write(vst3_binaries.join("Mephisto.so"), b"vst3").unwrap();
        std::fs::write(built.support().join("libonnxruntime.so.1.22.1"), b"ort").unwrap();
        std::fs::write(built.support().join("models/tine_keys.onnx"), b"model").unwrap();

        let places = Places::under(&root.join("home"));
        copy_bundles(&built, &places).unwrap();
        // Twice: a second install replaces the first.
        copy_bundles(&built, &places).unwrap();
        let read = |p: &Path| std::fs::read(p).unwrap();
        assert_eq!(read(&places.clap), b"clap");
        assert_eq!(
            read(
                &places
                    .vst3
                    .join(bundle::VST3_BINARY_DIR)
                    .join("Mephisto.so")
            ),
            b"vst3"
        );
        assert_eq!(read(&places.app_link), b"app", "the link starts the app");
        for support in [&places.clap_support, &places.app_support] {
            assert_eq!(read(&support.join("libonnxruntime.so.1.22.1")), b"ort");
            assert_eq!(read(&support.join("models/tine_keys.onnx")), b"model");
        }

        std::env::set_var("HOME", root.join("home"));
        uninstall(&[]).unwrap();
        for path in places.all() {
            assert!(
                std::fs::symlink_metadata(path).is_err(),
                "{}",
                path.display()
            );
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
