//! The embedding cache: every CLIP vector ever made for an index folder, by image
//! SHA-256, one file per model and preprocessing (`index/cache/<identity hash>.vectors`).
//!
//! It is what makes an interrupted `index` run resume: each batch is appended as soon
//! as the model has embedded it, so a run killed half-way loses at most one batch.
//! It also keeps the vectors of images that left `train/` and come back, or of a
//! model that is switched away from and back to. The file is append-only: fixed-size
//! records (64 hex digits of SHA-256, then the `f32` row); a record cut short by a kill
//! is ignored on the next read.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use picseek_manifest::sha256_hex;

use crate::{IndexError, io_error};

const SHA_LEN: usize = 64;

/// Cached vectors by image SHA-256.
pub(crate) type CachedVectors = HashMap<String, Vec<f32>>;

/// The cache file, for appending.
pub(crate) struct CacheFile {
    path: PathBuf,
    dimension: usize,
    file: Option<std::fs::File>,
}

/// Reads the cache of vectors made the way `identity` describes.
pub(crate) fn open_cache(
    index_dir: &Path,
    identity: &str,
    dimension: usize,
) -> Result<(CachedVectors, CacheFile), IndexError> {
    let path = index_dir.join("cache").join(format!("{}.vectors", &sha256_hex(identity.as_bytes())[..16]));
    let mut vectors = HashMap::new();
    match std::fs::read(&path) {
        Ok(bytes) => {
            for record in bytes.chunks_exact(SHA_LEN + dimension * 4) {
                let (sha, row) = record.split_at(SHA_LEN);
                if let Ok(sha) = std::str::from_utf8(sha) {
                    vectors.insert(sha.to_owned(), bytemuck::pod_collect_to_vec(row));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IndexError::Io { path, source: e }),
    }
    Ok((vectors, CacheFile { path, dimension, file: None }))
}

impl CacheFile {
    /// Appends new rows (`f32` vectors as stored, by image SHA-256) and flushes them
    /// before returning.
    pub(crate) fn append(&mut self, rows: &[(&str, &[u8])]) -> Result<(), IndexError> {
        if rows.is_empty() {
            return Ok(());
        }
        let record = SHA_LEN + self.dimension * 4;
        if self.file.is_none() {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path);
            let file = file.map_err(io_error(&self.path))?;
            // A record left short by a killed run would misalign every later one.
            let len = file.metadata().map_err(io_error(&self.path))?.len();
            if len % record as u64 != 0 {
                file.set_len(len - len % record as u64).map_err(io_error(&self.path))?;
            }
            self.file = Some(file);
        }
        let mut bytes = Vec::with_capacity(rows.len() * record);
        for (sha, row) in rows {
            bytes.extend_from_slice(sha.as_bytes());
            bytes.extend_from_slice(row);
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&bytes).and_then(|()| file.flush()).map_err(io_error(&self.path))
    }
}
