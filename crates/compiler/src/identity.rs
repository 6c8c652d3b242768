//! The compilers' identity, remembered on disk: `faust --version` and `rustc -vV` go into
//! every cache key, and asking them costs tens of milliseconds (more through the rustup
//! proxy), which used to be nearly all of a cache hit. The answer is kept in a small file next
//! to the variant cache, one per configured executable, and used again as long as the
//! executable is the same file: same resolved path, size and modification time (and, for the
//! rustup proxy, the same rustup settings and `RUSTUP_TOOLCHAIN`). The rustup proxy is
//! resolved once to the toolchain's own `rustc`, which the compiles then run directly.
//!
//! The file is input like any other in the cache: it is read with a size cap, every field is
//! checked, the executable it names must still match its recorded size and time and, for a
//! resolved rustup toolchain, lie inside rustup's toolchains folder. Anything else and the
//! file is ignored and the tool asked again.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::tab_fields::{escape, unescape};
use sha2::{Digest, Sha256};

/// The first line of an identity file; a new layout gets a new number.
const HEADER: &str = "mephisto toolchain identity 1";

/// Identity files are this long at most (a version text is a few hundred bytes).
const MAX_IDENTITY_BYTES: u64 = 16 * 1024;

/// What identifies an executable on disk: when it is replaced or updated, one of these moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Resolved (symbolic links followed).
    pub path: PathBuf,
    pub bytes: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl Stamp {
    /// The stamp of the file at `path` as it is now; `None` when it is not a regular file.
    pub fn of(path: &Path) -> Option<Stamp> {
        let path = fs::canonicalize(path).ok()?;
        let meta = fs::metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        let modified = meta.modified().ok()?;
        let mtime_ns = match modified.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        };
        Some(Stamp {
            path,
            bytes: meta.len(),
            mtime_ns,
        })
    }

    fn text(&self) -> String {
        format!(
            "{}\t{}\t{}",
            escape(&self.path.to_string_lossy()),
            self.bytes,
            self.mtime_ns
        )
    }

    fn parse(text: &str) -> Option<Stamp> {
        let mut fields = text.split('\t');
        let path = PathBuf::from(unescape(fields.next()?)?);
        let bytes = fields.next()?.parse().ok()?;
        let mtime_ns = fields.next()?.parse().ok()?;
        (fields.next().is_none() && path.is_absolute()).then_some(Stamp {
            path,
            bytes,
            mtime_ns,
        })
    }
}

/// What a probe found out about one configured executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The executable as configured (or found on `PATH`).
    pub configured: Stamp,
    /// What else decides which compiler the executable runs (the rustup proxy's settings);
    /// empty for a plain executable.
    pub context: String,
    /// The executable the compiles run: the configured one, or the toolchain's own `rustc`
    /// behind the rustup proxy.
    pub real: Stamp,
    /// The version text for the cache key.
    pub version: String,
}

impl Identity {
    fn text(&self, tool: &str) -> String {
        format!(
            "{HEADER}\ntool {tool}\nconfigured {}\ncontext {}\nreal {}\nversion {}\n",
            self.configured.text(),
            escape(&self.context),
            self.real.text(),
            escape(&self.version)
        )
    }

    fn parse(text: &str, tool: &str) -> Option<Identity> {
        let mut lines = text.lines();
        if lines.next()? != HEADER || lines.next()? != format!("tool {tool}") {
            return None;
        }
        let mut field = |name: &str| -> Option<String> {
            lines
                .next()?
                .strip_prefix(name)?
                .strip_prefix(' ')
                .map(str::to_string)
        };
        let configured = Stamp::parse(&field("configured")?)?;
        let context = unescape(&field("context")?)?;
        let real = Stamp::parse(&field("real")?)?;
        let version = unescape(&field("version")?)?;
        let sane = |s: &str| !s.chars().any(|c| c.is_control() && c != '\n');
        if lines.next().is_some() || version.trim().is_empty() || !sane(&version) {
            return None;
        }
        Some(Identity {
            configured,
            context,
            real,
            version,
        })
    }
}

/// Where the identity of the executable at `configured` is kept in `root` (the cache
/// folder): the name carries a hash of its resolved path, so two configured compilers never
/// share a file, and starts with a dot, so it never looks like a cache entry.
pub fn record_path(root: &Path, tool: &str, configured: &Stamp) -> PathBuf {
    let digest = Sha256::digest(configured.path.to_string_lossy().as_bytes());
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    root.join(format!(".toolchain-{tool}-{short}"))
}

/// The remembered identity of `configured`, if its record exists, is well formed and still
/// describes the files on disk; `valid_real` says whether the recorded real executable may
/// be run (the caller knows where a toolchain may live).
pub fn recall(
    root: &Path,
    tool: &str,
    configured: &Stamp,
    context: &str,
    valid_real: impl Fn(&Path) -> bool,
) -> Option<Identity> {
    let path = record_path(root, tool, configured);
    let meta = fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_IDENTITY_BYTES {
        return None;
    }
    let mut text = String::new();
    fs::File::open(&path)
        .ok()?
        .take(MAX_IDENTITY_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    let identity = Identity::parse(&text, tool)?;
    let current = identity.configured == *configured
        && identity.context == context
        && valid_real(&identity.real.path)
        && Stamp::of(&identity.real.path).as_ref() == Some(&identity.real);
    current.then_some(identity)
}

/// Writes the record (to a private name first, then renamed over the old one, so a reader
/// sees a whole record or the previous one). A failure only costs the next probe.
pub fn remember(root: &Path, tool: &str, identity: &Identity) {
    let path = record_path(root, tool, &identity.configured);
    let temp = path.with_extension(format!("tmp-{}", super::cache::unique_suffix()));
    if fs::write(&temp, identity.text(tool)).is_ok() && fs::rename(&temp, &path).is_ok() {
        return;
    }
    let _ = fs::remove_file(&temp);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "mephisto-identity-{name}-{}",
            super::super::cache::unique_suffix()
        ));
        fs::create_dir_all(&root).unwrap();
        root
    }

    fn identity_of(exe: &Path) -> Identity {
        let stamp = Stamp::of(exe).unwrap();
        Identity {
            configured: stamp.clone(),
            context: "settings\t1".into(),
            real: stamp,
            version: "tool 1.0\nbinary: tool\n".into(),
        }
    }

    #[test]
    fn a_record_is_recalled_while_the_executable_is_unchanged() {
        let root = temp_root("recall");
        let exe = root.join("tool");
        fs::write(&exe, b"#!/bin/sh\n").unwrap();
        let identity = identity_of(&exe);
        remember(&root, "rustc", &identity);
        let recalled = recall(
            &root,
            "rustc",
            &identity.configured,
            &identity.context,
            |_| true,
        );
        assert_eq!(recalled.as_ref(), Some(&identity));
        // Another tool kind, another context, or a real executable the caller refuses: no.
        assert!(recall(
            &root,
            "faust",
            &identity.configured,
            &identity.context,
            |_| true
        )
        .is_none());
        assert!(recall(&root, "rustc", &identity.configured, "other", |_| true).is_none());
        assert!(recall(
            &root,
            "rustc",
            &identity.configured,
            &identity.context,
            |_| false
        )
        .is_none());
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_changed_executable_is_not_recalled() {
        let root = temp_root("changed");
        let exe = root.join("tool");
        fs::write(&exe, b"#!/bin/sh\n").unwrap();
        let identity = identity_of(&exe);
        remember(&root, "rustc", &identity);
        // A new size.
        fs::write(&exe, b"#!/bin/sh\n# updated\n").unwrap();
        let now = Stamp::of(&exe).unwrap();
        assert_ne!(now, identity.configured);
        assert!(recall(&root, "rustc", &now, &identity.context, |_| true).is_none());
        // The same size, a new modification time.
        fs::write(&exe, b"#!/bin/sh\n").unwrap();
        let file = fs::File::options().write(true).open(&exe).unwrap();
        file.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
        let now = Stamp::of(&exe).unwrap();
        assert_eq!(now.bytes, identity.configured.bytes);
        assert!(recall(&root, "rustc", &now, &identity.context, |_| true).is_none());
        fs::remove_dir_all(root).unwrap();
    }

    /// The compiler behind a proxy (a toolchain's own `rustc`) removed or updated: the record
    /// no longer counts, so the proxy is asked again.
    #[test]
    fn a_record_whose_real_compiler_moved_is_not_recalled() {
        let root = temp_root("moved");
        let proxy = root.join("proxy");
        let real = root.join("toolchain-rustc");
        fs::write(&proxy, b"proxy").unwrap();
        fs::write(&real, b"real compiler").unwrap();
        let identity = Identity {
            configured: Stamp::of(&proxy).unwrap(),
            context: String::new(),
            real: Stamp::of(&real).unwrap(),
            version: "rustc 1.0".into(),
        };
        remember(&root, "rustc", &identity);
        let recall_now = || recall(&root, "rustc", &identity.configured, "", |_| true);
        assert_eq!(recall_now().as_ref(), Some(&identity));
        fs::write(&real, b"an updated compiler").unwrap();
        assert!(recall_now().is_none(), "updated");
        fs::remove_file(&real).unwrap();
        assert!(recall_now().is_none(), "removed");
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_damaged_or_hostile_record_is_ignored() {
        let root = temp_root("damaged");
        let exe = root.join("tool");
        fs::write(&exe, b"#!/bin/sh\n").unwrap();
        let identity = identity_of(&exe);
        remember(&root, "rustc", &identity);
        let record = record_path(&root, "rustc", &identity.configured);
        let good = fs::read_to_string(&record).unwrap();
        let recall_now = || {
            recall(
                &root,
                "rustc",
                &identity.configured,
                &identity.context,
                |_| true,
            )
        };
        assert!(recall_now().is_some());
        let cases: Vec<(&str, String)> = vec![
            ("cut short", good[..good.len() / 2].to_string()),
            ("empty", String::new()),
            (
                "other header",
                good.replace(HEADER, "mephisto toolchain identity 9"),
            ),
            ("bad escape", good.replace("tool 1.0", "tool \\q1.0")),
            ("empty version", {
                let at = good.find("version ").unwrap();
                format!("{}version \n", &good[..at])
            }),
            ("a line too many", format!("{good}extra\n")),
            ("bytes not a number", good.replacen("\t10\t", "\tten\t", 2)),
            (
                "relative real path",
                good.replace(
                    &format!("real {}", escape(&exe.to_string_lossy())),
                    "real tool",
                ),
            ),
            (
                "control character",
                good.replace("tool 1.0", "tool\u{7}1.0"),
            ),
            (
                "binary junk",
                String::from_utf8_lossy(&[0xff, 0x00, 0x13, 0x37]).into_owned(),
            ),
            (
                "huge",
                format!("{good}{}", "x".repeat(MAX_IDENTITY_BYTES as usize)),
            ),
        ];
        for (what, text) in cases {
            fs::write(&record, &text).unwrap();
            assert!(recall_now().is_none(), "{what}: {text:?}");
        }
        // A folder, or a link to a good record elsewhere, where the record belongs.
        fs::remove_file(&record).unwrap();
        fs::create_dir(&record).unwrap();
        assert!(recall_now().is_none(), "a folder");
        fs::remove_dir(&record).unwrap();
        let elsewhere = root.join("elsewhere");
        fs::write(&elsewhere, &good).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &record).unwrap();
        assert!(recall_now().is_none(), "a link");
        // Writing a fresh record replaces whatever was there.
        fs::remove_file(&record).unwrap();
        fs::write(&record, "junk").unwrap();
        remember(&root, "rustc", &identity);
        assert_eq!(recall_now(), Some(identity));
        fs::remove_dir_all(root).unwrap();
    }
}
