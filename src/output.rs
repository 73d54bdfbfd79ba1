//! Output files that appear whole or not at all: written under a temporary name beside the
//! destination and renamed into place when complete, so an interrupted or failed run never
//! leaves a truncated file under the final name. Devices and pipes (`/dev/null`, `/dev/stdout`,
//! a FIFO) are written in place: renaming over them would replace them.

use std::path::{Path, PathBuf};

/// Where to write `path` first.
pub fn staging(path: &Path) -> PathBuf {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => path.to_path_buf(),
        _ => {
            let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            name.push(".partial");
            path.with_file_name(name)
        }
    }
}

/// Moves a completed staging file into place.
pub fn commit(staged: &Path, path: &Path) -> std::io::Result<()> {
    if staged != path {
        std::fs::rename(staged, path)?;
    }
    Ok(())
}

/// Removes a staging file after a failure (never the destination of an in-place write to a
/// device).
pub fn discard(staged: &Path, path: &Path) {
    if staged != path {
        let _ = std::fs::remove_file(staged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_staged_devices_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("out.gz");
        assert_eq!(staging(&f), dir.path().join("out.gz.partial"));
        std::fs::write(&f, "old").unwrap();
        let s = staging(&f);
        std::fs::write(&s, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "old", "the destination is untouched until commit");
        commit(&s, &f).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        assert_eq!(staging(Path::new("/dev/null")), Path::new("/dev/null"));
    }
}
