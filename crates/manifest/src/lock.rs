//! One writing process per data directory: an advisory lock, and the removal of what
//! killed runs left behind, which is only safe while holding it.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file, in the data directory.
pub const LOCK_FILE: &str = ".picseek.lock";

/// The prefix of every temporary file picseek writes before renaming it into place.
pub const TEMPORARY_PREFIX: &str = ".picseek-tmp-";

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("{dir} is in use by another picseek ({holder}); wait for it to finish, or use another --data-dir")]
    Busy {
        /// The data directory.
        dir: PathBuf,
        /// What the other process wrote into the lock file: its pid and command.
        holder: String,
    },
    /// The lock file cannot be made or locked.
    #[error("{path}: cannot lock: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Held while a stage writes into a data directory; released when dropped (also when
/// the process dies, since the operating system drops the lock with the file).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    /// Takes the lock of `dir` (created if missing) for `command`, or says who holds it.
    pub fn acquire(dir: &Path, command: &str) -> Result<Self, LockError> {
        let (mut file, io) = open_lock_file(dir)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // Shards hold the lock shared: a shared lock still free means only they do.
                if file.try_lock_shared().is_ok() {
                    let _ = file.unlock();
                    let holder = "shards of a stage, see the stage folder's .shards/".to_owned();
                    return Err(LockError::Busy { dir: dir.to_owned(), holder });
                }
                return Err(busy(dir, &mut file));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).and_then(|()| file.rewind()).map_err(&io)?;
        write!(file, "pid {}, picseek {command}", std::process::id()).and_then(|()| file.flush()).map_err(io)?;
        Ok(Self { _file: file })
    }

    /// Takes the lock of `dir` shared, as the shards of one stage do: any number of
    /// shards at once, but no whole-stage run beside them (its [`acquire`](Self::acquire)
    /// says they are there). Each shard also holds its own folder's lock exclusively, so
    /// one shard never runs twice at once.
    pub fn acquire_shared(dir: &Path) -> Result<Self, LockError> {
        let (mut file, io) = open_lock_file(dir)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(busy(dir, &mut file)),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// The lock file of `dir` (both made if missing), and how its I/O errors are reported.
fn open_lock_file(dir: &Path) -> Result<(std::fs::File, impl Fn(std::io::Error) -> LockError), LockError> {
    let path = dir.join(LOCK_FILE);
    let io = move |source| LockError::Io { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(&io)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(&io)?;
    Ok((file, io))
}

/// The lock is held exclusively: by whom, as the holder wrote into the file.
fn busy(dir: &Path, file: &mut std::fs::File) -> LockError {
    let mut holder = String::new();
    let _ = file.read_to_string(&mut holder);
    let holder = holder.trim();
    let holder = if holder.is_empty() { "a process that has just started" } else { holder };
    LockError::Busy { dir: dir.to_owned(), holder: holder.to_owned() }
}

/// Removes the temporary files (`.picseek-tmp-*`) that killed runs left in `dir` and its
/// folders down to `depth` levels, and returns how many. Call it only while holding the
/// data directory's [`DataDirLock`]: another run's temporaries are its work in progress.
pub fn remove_stale_temporaries(dir: &Path, depth: usize) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        if kind.is_dir() && depth > 0 {
            removed += remove_stale_temporaries(&path, depth - 1);
        } else if kind.is_file() && entry.file_name().to_string_lossy().starts_with(TEMPORARY_PREFIX) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!("could not remove the leftover {}: {e}", path.display()),
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_first_holder_and_a_dropped_lock_is_free_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path(), "index").unwrap();
        let err = DataDirLock::acquire(dir.path(), "download").unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}, picseek index", std::process::id())), "{err}");
        drop(first);
        DataDirLock::acquire(dir.path(), "download").unwrap();
    }

    #[test]
    fn shards_share_the_lock_and_keep_a_whole_stage_run_out() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire_shared(dir.path()).unwrap();
        let second = DataDirLock::acquire_shared(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path(), "clean").unwrap_err().to_string();
        assert!(err.contains("shards"), "{err}");
        drop((first, second));
        let whole = DataDirLock::acquire(dir.path(), "clean").unwrap();
        assert!(DataDirLock::acquire_shared(dir.path()).unwrap_err().to_string().contains("picseek clean"));
        drop(whole);
    }

    #[test]
    fn only_temporaries_within_the_depth_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        for folder in [dir.path(), &dir.path().join("a"), &deep] {
            std::fs::write(folder.join(".picseek-tmp-x"), b"partial").unwrap();
            std::fs::write(folder.join("photo.jpg"), b"kept").unwrap();
        }
        assert_eq!(remove_stale_temporaries(dir.path(), 2), 2);
        assert!(deep.join(".picseek-tmp-x").exists(), "deeper than asked is left");
        assert!(dir.path().join("a/photo.jpg").exists());
    }
}
