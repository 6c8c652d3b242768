//! The variant cache on disk: one folder per key holding the compiled library. Entries are
//! built in a private staging folder and published with one atomic rename, so two processes
//! compiling the same key never see each other's half-written files.

use std::env::consts::DLL_SUFFIX;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::CompileError;

/// Environment variable that moves the cache (tests, sandboxed hosts).
pub const CACHE_DIR_ENV: &str = "MEPHISTO_CACHE_DIR";

/// Staging folders start with this; the prefix keeps them from ever looking like an entry.
const STAGING_PREFIX: &str = ".staging-";

/// A staging folder untouched this long belongs to a compile that crashed; it is removed.
const STALE_STAGING: Duration = Duration::from_secs(3600);

/// A cache key: the hex SHA-256 of everything that can change the compiled code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// Hashes labelled parts; labels and lengths go in too, so moving bytes from one part to
    /// the next changes the key.
    pub fn new(parts: &[(&str, &[u8])]) -> Key {
        let mut hasher = Sha256::new();
        for (label, bytes) in parts {
            hasher.update((label.len() as u64).to_le_bytes());
            hasher.update(label.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        let digest = hasher.finalize();
        Key(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The cache folder and its entries.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating it if needed) `configured`, else `$MEPHISTO_CACHE_DIR`, else the
    /// user's cache folder (`$XDG_CACHE_HOME` or `~/.cache`) + `mephisto/variants`.
    pub fn open(configured: Option<&Path>) -> Result<Cache, CompileError> {
        let root = configured
            .map(Path::to_path_buf)
            .unwrap_or_else(default_root);
        fs::create_dir_all(&root).map_err(|e| {
            CompileError::Cache(format!(
                "cannot create the variant cache at `{}`: {e} (set {CACHE_DIR_ENV} to a writable folder)",
                root.display()
            ))
        })?;
        // Absolute, because the compilers run inside the build folder.
        let root = fs::canonicalize(&root).unwrap_or(root);
        Ok(Cache { root })
    }

    /// The library of a published entry, when there is one.
    pub fn lookup(&self, key: &Key) -> Option<PathBuf> {
        let library = library_in(&self.root.join(key.as_str()));
        library.is_file().then_some(library)
    }

    /// Removes an entry that exists but cannot be used (it is renamed away first, so a
    /// process reading it at the same time sees either the whole entry or none).
    pub fn evict(&self, key: &Key) {
        let entry = self.root.join(key.as_str());
        let doomed = self
            .root
            .join(format!("{STAGING_PREFIX}evicted-{}", unique_suffix()));
        if fs::rename(&entry, &doomed).is_ok() {
            let _ = fs::remove_dir_all(&doomed);
        }
    }

    /// Starts building an entry in a fresh staging folder next to the entries (same file
    /// system, so publishing is one rename).
    pub fn stage(&self, key: &Key) -> Result<Staging, CompileError> {
        self.remove_stale_staging();
        let dir = self.root.join(format!(
            "{STAGING_PREFIX}{}-{}",
            &key.as_str()[..16],
            unique_suffix()
        ));
        fs::create_dir(&dir).map_err(|e| {
            CompileError::Cache(format!(
                "cannot create a build folder in the variant cache at `{}`: {e}",
                self.root.display()
            ))
        })?;
        Ok(Staging {
            dir,
            entry: self.root.join(key.as_str()),
        })
    }

    fn remove_stale_staging(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_STAGING);
            if stale
                && entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(STAGING_PREFIX)
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// An entry being built; removed on drop unless published.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    entry: PathBuf,
}

impl Staging {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the compiled library must be written.
    pub fn library(&self) -> PathBuf {
        library_in(&self.dir)
    }

    /// Makes the entry visible under its key and returns its library. When another process
    /// published the same key first, its entry (built from the same inputs) is used.
    pub fn publish(self) -> Result<PathBuf, CompileError> {
        match fs::rename(&self.dir, &self.entry) {
            Ok(()) => Ok(library_in(&self.entry)),
            Err(_) if library_in(&self.entry).is_file() => Ok(library_in(&self.entry)),
            Err(e) => Err(CompileError::Cache(format!(
                "cannot publish the compiled variant to `{}`: {e}",
                self.entry.display()
            ))),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn library_in(dir: &Path) -> PathBuf {
    dir.join(format!("variant{DLL_SUFFIX}"))
}

fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let user_cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir);
    user_cache.join("mephisto").join("variants")
}

/// A name part no other staging folder or scratch file has: process id, time and a counter.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("mephisto-cache-test-{name}-{}", unique_suffix()))
    }

    #[test]
    fn keys_depend_on_every_part_and_its_boundaries() {
        let a = Key::new(&[("x", b"ab"), ("y", b"c")]);
        assert_eq!(a, Key::new(&[("x", b"ab"), ("y", b"c")]));
        assert_ne!(a, Key::new(&[("x", b"a"), ("y", b"bc")]));
        assert_eq!(a.as_str().len(), 64);
    }

    #[test]
    fn an_entry_is_invisible_until_published() {
        let root = temp_root("publish");
        let cache = Cache::open(Some(&root)).unwrap();
        let key = Key::new(&[("source", b"process = 0;")]);
        let staging = cache.stage(&key).unwrap();
        fs::write(staging.library(), b"half").unwrap();
        assert!(cache.lookup(&key).is_none());
        let library = staging.publish().unwrap();
        assert_eq!(cache.lookup(&key), Some(library));

        // A second builder of the same key loses the race quietly and uses the winner.
        let late = cache.stage(&key).unwrap();
        fs::write(late.library(), b"other").unwrap();
        let late_dir = late.dir().to_path_buf();
        let library = late.publish().unwrap();
        assert_eq!(fs::read(library).unwrap(), b"half");
        assert!(!late_dir.exists());

        cache.evict(&key);
        assert!(cache.lookup(&key).is_none());
        fs::remove_dir_all(root).unwrap();
    }
}
