//! Reading files a user (or someone who shared a project) names: only regular files, opened
//! without blocking (a FIFO would wait for a writer for ever), their size checked before a
//! byte is read (`/dev/zero` never ends), and never more than the limit read. Every reader
//! of a user's file (programs, PatchSpecs, WAV files) goes through here.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The largest PatchSpec file read: the program may be 64 KiB, the rest is a few KiB of
/// values and notes; 1 MiB leaves room for long notes.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// The largest WAV file read: 600 s of 32-bit stereo at 192 kHz is 880 MiB; WAV files are
/// also refused by duration and channel count from their header (`effect::read_wav`).
pub const MAX_WAV_BYTES: u64 = 1 << 30;

/// Opens `path` for reading if it is a regular file of at most `max_bytes`; returns it and
/// its size. `what` names the file in messages ("the program", "the PatchSpec").
pub fn open_regular(path: &Path, max_bytes: u64, what: &str) -> Result<(File, u64), String> {
    let shown = path.display();
    let file = open_nonblocking(path).map_err(|e| format!("cannot read {what} `{shown}`: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {what} `{shown}`: {e}"))?;
    if !meta.is_file() {
        let kind = kind_of(&meta);
        return Err(format!(
            "cannot read {what} `{shown}`: it is {kind}, not a regular file"
        ));
    }
    if meta.len() > max_bytes {
        return Err(format!(
            "{what} `{shown}` is {}, more than the {} allowed",
            mephisto_compiler::limits::bytes(meta.len()),
            mephisto_compiler::limits::bytes(max_bytes)
        ));
    }
    Ok((file, meta.len()))
}

/// Reads a regular text file of at most `max_bytes`.
pub fn read_text(path: &Path, max_bytes: u64, what: &str) -> Result<String, String> {
    let (file, size) = open_regular(path, max_bytes, what)?;
    let mut bytes = Vec::with_capacity(size as usize);
    // The file may grow after the check: never read past the limit.
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {what} `{}`: {e}", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!(
            "{what} `{}` grew past {} while it was read",
            path.display(),
            mephisto_compiler::limits::bytes(max_bytes)
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{what} `{}` is not UTF-8 text", path.display()))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO without a writer returns at once (and is then refused as
    // not a regular file); it changes nothing for regular files.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_at_once() {
        let err = read_text(Path::new("/dev/zero"), 1024, "the program").unwrap_err();
        assert_eq!(
            err,
            "cannot read the program `/dev/zero`: it is a device, not a regular file"
        );
        let dir = std::env::temp_dir();
        let err = read_text(&dir, 1024, "the program").unwrap_err();
        assert!(err.ends_with("it is a folder, not a regular file"), "{err}");
        #[cfg(unix)]
        {
            let fifo = dir.join(format!("mephisto-fifo-{}", std::process::id()));
            let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
            // SAFETY: a valid, NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let err = read_text(&fifo, 1024, "the PatchSpec").unwrap_err();
            let _ = std::fs::remove_file(&fifo);
            assert!(
                err.ends_with("it is a named pipe (FIFO), not a regular file"),
                "{err}"
            );
        }
    }

    #[test]
    fn sizes_are_checked_before_reading() {
        let path = std::env::temp_dir().join(format!("mephisto-size-{}", std::process::id()));
        std::fs::write(&path, vec![b'x'; 2048]).unwrap();
        let err = read_text(&path, 1024, "the program").unwrap_err();
        assert!(
            err.ends_with("is 2 KiB, more than the 1 KiB allowed"),
            "{err}"
        );
        assert_eq!(read_text(&path, 4096, "the program").unwrap().len(), 2048);
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_text(&path, 4096, "the program")
            .unwrap_err()
            .ends_with("is not UTF-8 text"));
        let _ = std::fs::remove_file(&path);
    }
}
