//! The embedding cache: every CLIP vector ever made for a folder (the index folder, or
//! a shard's), by image SHA-256, one file per model and preprocessing
//! (`<folder>/cache/<identity hash>.vectors`).
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

use picseek_manifest::{DataDir, sha256_hex};

use picseek_imaging::ImageError;

use crate::{ClipEmbedder, EmbedError, EmbedderKind, EmbeddingIdentity, ModelOptions, io_error};

const SHA_LEN: usize = 64;

/// Cached vectors by image SHA-256.
pub type CachedVectors = HashMap<String, Vec<f32>>;

/// One embedding cache file, for appending; [`EmbeddingCache::open`] also reads what it holds.
pub struct EmbeddingCache {
    path: PathBuf,
    identity: String,
    dimension: usize,
    file: Option<std::fs::File>,
}

/// Beside each cache file (`<name>.json`): what its vectors are, so that a reader that
/// did not make them (split, grouping near copies) can read them.
#[derive(serde::Serialize, serde::Deserialize)]
struct CacheDescription {
    identity: String,
    dimension: usize,
}

/// The vectors of every embedding cache of `owner_dir` that describes itself, with the
/// identity it was made with.
pub fn cached_embeddings(owner_dir: &Path) -> Vec<(String, CachedVectors)> {
    let Ok(entries) = std::fs::read_dir(DataDir::embedding_cache(owner_dir)) else { return Vec::new() };
    let mut caches = Vec::new();
    for path in entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let Ok(description) = picseek_manifest::read_json::<CacheDescription>(&path) else { continue };
        if let Ok((vectors, _)) = EmbeddingCache::open(owner_dir, &description.identity, description.dimension) {
            caches.push((description.identity, vectors));
        }
    }
    caches
}

impl EmbeddingCache {
    /// Reads the cache of `owner_dir` of vectors made the way `identity` (an
    /// [`EmbeddingIdentity::canonical`] text) describes, and opens it for appending.
    pub fn open(owner_dir: &Path, identity: &str, dimension: usize) -> Result<(CachedVectors, Self), EmbedError> {
        let path =
            DataDir::embedding_cache(owner_dir).join(format!("{}.vectors", &sha256_hex(identity.as_bytes())[..16]));
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
            Err(e) => return Err(EmbedError::Io { path, source: e }),
        }
        Ok((vectors, Self { path, identity: identity.to_owned(), dimension, file: None }))
    }

    /// Appends new rows (`f32` vectors as stored, by image SHA-256) and flushes them
    /// before returning.
    pub fn append(&mut self, rows: &[(&str, &[u8])]) -> Result<(), EmbedError> {
        if rows.is_empty() {
            return Ok(());
        }
        let record = SHA_LEN + self.dimension * 4;
        if self.file.is_none() {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path);
            let file = file.map_err(io_error(&self.path))?;
            let description = self.path.with_extension("json");
            if !description.exists() {
                let what = CacheDescription { identity: self.identity.clone(), dimension: self.dimension };
                picseek_manifest::write_json_atomic(&description, &what)?;
            }
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

/// CLIP vectors of images through an [`EmbeddingCache`], for stages before `index`
/// (clean's `--dedup clip`): what is cached is not embedded again, and what is embedded
/// here is not embedded again by `index` when it shares the cache's folder.
pub struct CachedClipEmbedder {
    embedder: ClipEmbedder,
    cached: CachedVectors,
    file: EmbeddingCache,
}

impl CachedClipEmbedder {
    /// Loads the model of `options` and opens its cache in `owner_dir`.
    pub fn open(owner_dir: &Path, options: &ModelOptions, max_decode_bytes: u64) -> Result<Self, EmbedError> {
        let embedder = ClipEmbedder::load(options, max_decode_bytes)?;
        let identity = EmbeddingIdentity::new(EmbedderKind::Clip, Some(embedder.model()), &embedder.preprocessing());
        let (cached, file) = EmbeddingCache::open(owner_dir, &identity.canonical(), embedder.dimension())?;
        Ok(Self { embedder, cached, file })
    }

    /// The vector of each image (its name, for errors, and bytes): cached by the SHA-256
    /// of its bytes, or embedded now, in one batch, and appended to the cache. An image
    /// that cannot be embedded gets its error.
    pub fn vectors(&mut self, images: &[(PathBuf, Vec<u8>)]) -> Result<Vec<Result<Vec<f32>, ImageError>>, EmbedError> {
        use rayon::prelude::*;
        let shas: Vec<String> = images.iter().map(|(_, bytes)| picseek_manifest::sha256_hex(bytes)).collect();
        let prepared: Vec<Option<Result<Vec<f32>, ImageError>>> = images
            .par_iter()
            .zip(&shas)
            .map(|((path, bytes), sha)| (!self.cached.contains_key(sha)).then(|| self.embedder.prepare(path, bytes)))
            .collect();
        let inputs: Vec<Vec<f32>> = prepared.iter().filter_map(|p| p.as_ref()?.as_ref().ok().cloned()).collect();
        let mut embedded =
            if inputs.is_empty() { Vec::new() } else { self.embedder.embed_prepared(&inputs)? }.into_iter();
        let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
        let mut out = Vec::with_capacity(images.len());
        for (sha, prepared) in shas.iter().zip(prepared) {
            out.push(match prepared {
                None => Ok(self.cached[sha].clone()),
                Some(Err(e)) => Err(e),
                Some(Ok(_)) => {
                    let vector = embedded.next().unwrap_or_default();
                    rows.push((sha.clone(), vector.clone()));
                    Ok(vector)
                }
            });
        }
        let bytes: Vec<(&str, &[u8])> = rows.iter().map(|(sha, v)| (sha.as_str(), bytemuck::cast_slice(v))).collect();
        self.file.append(&bytes)?;
        self.cached.extend(rows);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIM: usize = 2;

    fn sha(c: char) -> String {
        std::iter::repeat_n(c, SHA_LEN).collect()
    }

    fn row(values: [f32; DIM]) -> Vec<u8> {
        bytemuck::cast_slice(&values).to_vec()
    }

    #[test]
    fn appended_rows_come_back_by_image_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, mut file) = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert!(empty.is_empty());
        let (a, b) = (row([1.0, 2.0]), row([3.0, 4.0]));
        file.append(&[(&sha('a'), &a)]).unwrap();
        file.append(&[(&sha('b'), &b)]).unwrap();
        let (cached, _) = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!(cached.len(), 2);
        assert_eq!(cached[&sha('b')], vec![3.0, 4.0]);
        // Another identity is another file.
        assert!(EmbeddingCache::open(dir.path(), "other identity", DIM).unwrap().0.is_empty());
    }

    #[test]
    fn a_torn_last_record_is_ignored_and_cut_off_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut file) = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        file.append(&[(&sha('a'), &row([1.0, 2.0]))]).unwrap();
        // A kill in the middle of the next record: its SHA and half its row.
        let path = file.path.clone();
        let mut torn = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        torn.write_all(sha('b').as_bytes()).unwrap();
        torn.write_all(&row([5.0, 6.0])[..4]).unwrap();
        drop(torn);

        let (cached, mut file) = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!(cached.keys().collect::<Vec<_>>(), vec![&sha('a')]);
        file.append(&[(&sha('c'), &row([7.0, 8.0]))]).unwrap();
        let (cached, _) = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!(cached.len(), 2, "the record after the torn one is aligned");
        assert_eq!(cached[&sha('c')], vec![7.0, 8.0]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * (SHA_LEN + DIM * 4) as u64);
    }
}
