//! The variant cache on disk: one folder per key holding the compiled library and its
//! manifest (the library's size and SHA-256). Entries are built in a private staging folder
//! and published with one atomic rename, so two processes compiling the same key never see
//! each other's half-written files.
//!
//! Nothing in the cache is trusted: before a library is loaded its entry must be a folder,
//! the library a regular file of the recorded size, and its content hash the recorded one.
//! An entry that fails (a file cut short by a full disk, flipped bytes, a library from
//! elsewhere, a file or a stray folder where the entry should be) is moved aside and
//! rebuilt, and the compile says so.

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

    /// The cache folder (absolute); the compilers' identity records live here too.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The published entry of `key`: its verified library, nothing, or why the thing
    /// found there cannot be used.
    pub fn lookup(&self, key: &Key) -> Lookup {
        let entry = self.root.join(key.as_str());
        match fs::symlink_metadata(&entry) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Lookup::Miss,
            Err(e) => Lookup::Damaged(format!("it cannot be read ({e})")),
            Ok(meta) if !meta.is_dir() => Lookup::Damaged("it is not a folder".to_string()),
            Ok(_) => match verify(&entry) {
                Ok(library) => Lookup::Hit(library),
                Err(why) => Lookup::Damaged(why),
            },
        }
    }

    /// Moves an entry that exists but cannot be used out of the way and removes it (it is
    /// renamed first, so a process reading it at the same time sees the whole entry or none).
    pub fn evict(&self, key: &Key) {
        move_aside(&self.root.join(key.as_str()), &self.root);
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

    /// Records the library's size and hash, makes the entry visible under its key and
    /// returns its library. When another process published the same key first, its entry
    /// (built from the same inputs) is used if it verifies; anything else in the way (a
    /// damaged entry, a file) is moved aside and the rename tried again.
    pub fn publish(self) -> Result<PathBuf, CompileError> {
        let manifest = Manifest::of(&self.library()).map_err(|e| {
            CompileError::Cache(format!(
                "cannot read the compiled variant to record it: {e}"
            ))
        })?;
        fs::write(self.dir.join(MANIFEST), manifest.text()).map_err(|e| {
            CompileError::Cache(format!("cannot write the variant's manifest: {e}"))
        })?;
        let mut last_error = None;
        for _ in 0..2 {
            match fs::rename(&self.dir, &self.entry) {
                Ok(()) => return Ok(library_in(&self.entry)),
                Err(e) => last_error = Some(e),
            }
            if let Ok(library) = verify(&self.entry) {
                return Ok(library);
            }
            if let Some(root) = self.entry.parent() {
                move_aside(&self.entry, root);
            }
        }
        Err(CompileError::Cache(format!(
            "cannot publish the compiled variant to `{}`: {}",
            self.entry.display(),
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )))
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

/// What a lookup found under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A verified library.
    Hit(PathBuf),
    Miss,
    /// Something that is not a usable entry, and what is wrong with it.
    Damaged(String),
}

/// The file in an entry that records its library.
const MANIFEST: &str = "manifest";

/// Libraries larger than this are not hashed but refused (a variant is a few hundred KiB).
const MAX_LIBRARY_BYTES: u64 = 256 << 20;

/// An entry's record of its library.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Manifest {
    bytes: u64,
    sha256: String,
}

impl Manifest {
    fn of(library: &Path) -> std::io::Result<Manifest> {
        let (bytes, sha256) = hash_file(library)?;
        Ok(Manifest { bytes, sha256 })
    }

    fn text(&self) -> String {
        format!(
            "mephisto variant\nbytes {}\nsha256 {}\n",
            self.bytes, self.sha256
        )
    }

    fn parse(text: &str) -> Option<Manifest> {
        let mut lines = text.lines();
        if lines.next()? != "mephisto variant" {
            return None;
        }
        let bytes = lines.next()?.strip_prefix("bytes ")?.parse().ok()?;
        let sha256 = lines.next()?.strip_prefix("sha256 ")?.to_string();
        (sha256.len() == 64).then_some(Manifest { bytes, sha256 })
    }
}

/// The size and hex SHA-256 of a regular file (read whole, at most [`MAX_LIBRARY_BYTES`]).
fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let mut reader = file.take(MAX_LIBRARY_BYTES + 1);
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    let digest = hasher.finalize();
    Ok((total, digest.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Checks a published entry and returns its library, or says what is wrong.
fn verify(entry: &Path) -> Result<PathBuf, String> {
    let library = library_in(entry);
    let manifest = fs::read_to_string(entry.join(MANIFEST))
        .ok()
        .and_then(|text| Manifest::parse(&text))
        .ok_or("its manifest is missing or unreadable")?;
    let meta = fs::symlink_metadata(&library).map_err(|_| "its library is missing")?;
    if !meta.is_file() {
        return Err("its library is not a regular file".into());
    }
    if meta.len() != manifest.bytes {
        return Err(format!(
            "its library has {} bytes, {} were recorded",
            meta.len(),
            manifest.bytes
        ));
    }
    if manifest.bytes > MAX_LIBRARY_BYTES {
        return Err("its library is larger than any variant".into());
    }
    let (_, sha256) =
        hash_file(&library).map_err(|e| format!("its library cannot be read ({e})"))?;
    if sha256 != manifest.sha256 {
        return Err("its library's content does not match the recorded hash".into());
    }
    Ok(library)
}

/// Renames `path` (an entry, or whatever is in its place) to a staging name in `root` and
/// removes it.
fn move_aside(path: &Path, root: &Path) {
    let doomed = root.join(format!("{STAGING_PREFIX}evicted-{}", unique_suffix()));
    if fs::rename(path, &doomed).is_ok() && fs::remove_dir_all(&doomed).is_err() {
        let _ = fs::remove_file(&doomed);
    }
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
        assert_eq!(cache.lookup(&key), Lookup::Miss);
        let library = staging.publish().unwrap();
        assert_eq!(cache.lookup(&key), Lookup::Hit(library));

        // A second builder of the same key loses the race quietly and uses the winner.
        let late = cache.stage(&key).unwrap();
        fs::write(late.library(), b"other").unwrap();
        let late_dir = late.dir().to_path_buf();
        let library = late.publish().unwrap();
        assert_eq!(fs::read(library).unwrap(), b"half");
        assert!(!late_dir.exists());

        cache.evict(&key);
        assert_eq!(cache.lookup(&key), Lookup::Miss);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn damaged_entries_are_found_and_a_leftover_does_not_block_publishing() {
        let root = temp_root("damage");
        let cache = Cache::open(Some(&root)).unwrap();
        let key = Key::new(&[("source", b"x")]);
        let publish = |content: &[u8]| {
            let staging = cache.stage(&key).unwrap();
            fs::write(staging.library(), content).unwrap();
            staging.publish().unwrap()
        };
        let library = publish(b"a whole library");
        fs::write(&library, b"a whole").unwrap();
        assert_eq!(
            cache.lookup(&key),
            Lookup::Damaged("its library has 7 bytes, 15 were recorded".into())
        );
        fs::write(&library, b"a wholE library").unwrap();
        assert_eq!(
            cache.lookup(&key),
            Lookup::Damaged("its library's content does not match the recorded hash".into())
        );
        // A damaged entry in the way of a new one is moved aside.
        let library = publish(b"rebuilt");
        assert_eq!(cache.lookup(&key), Lookup::Hit(library));
        // A file, or a foreign non-empty folder, where the entry belongs.
        cache.evict(&key);
        let entry = root.join(key.as_str());
        fs::write(&entry, b"not a folder").unwrap();
        assert_eq!(
            cache.lookup(&key),
            Lookup::Damaged("it is not a folder".into())
        );
        let library = publish(b"again");
        assert_eq!(cache.lookup(&key), Lookup::Hit(library));
        cache.evict(&key);
        fs::create_dir_all(entry.join("junk")).unwrap();
        assert!(matches!(cache.lookup(&key), Lookup::Damaged(_)));
        let library = publish(b"once more");
        assert_eq!(cache.lookup(&key), Lookup::Hit(library));
        fs::remove_dir_all(root).unwrap();
    }
}
