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
//!
//! The file is memory-mapped, not read: only a map from SHA-256 to record number is
//! held in memory (about 40 bytes an image), so a million cached vectors cost tens of
//! megabytes, not gigabytes, and the pages of rows nobody asks for are never read.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use picseek_manifest::{DataDir, sha256_hex};

use picseek_imaging::ImageError;

use crate::{ClipEmbedder, EmbedError, EmbedderKind, EmbeddingIdentity, ModelOptions, io_error};

const SHA_LEN: usize = 64;

/// Records appended at a time when one cache takes in another's.
const ABSORB_CHUNK: usize = 4096;

/// An image's SHA-256 as bytes: half the memory of its hex digits.
type Sha256 = [u8; 32];

fn sha_bytes(hex_digits: &[u8]) -> Option<Sha256> {
    let mut sha = [0; 32];
    hex::decode_to_slice(hex_digits, &mut sha).ok()?;
    Some(sha)
}

/// One embedding cache file: its vectors by image SHA-256, read through a memory map,
/// and appended to.
pub struct EmbeddingCache {
    path: PathBuf,
    identity: String,
    dimension: usize,
    /// The file as far as it was last mapped (`None` while it is empty).
    map: Option<Mmap>,
    /// Record number by image SHA-256; a SHA-256 stored twice is its last record.
    records: HashMap<Sha256, u32>,
    file: Option<std::fs::File>,
}

/// Beside each cache file (`<name>.json`): what its vectors are, so that a reader that
/// did not make them (split, grouping near copies) can read them.
#[derive(serde::Serialize, serde::Deserialize)]
struct CacheDescription {
    identity: String,
    dimension: usize,
}

/// Every embedding cache of `owner_dir` that describes itself.
pub fn cached_embeddings(owner_dir: &Path) -> Vec<EmbeddingCache> {
    let Ok(entries) = std::fs::read_dir(DataDir::embedding_cache(owner_dir)) else { return Vec::new() };
    let mut caches = Vec::new();
    for path in entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let Ok(description) = picseek_manifest::read_json::<CacheDescription>(&path) else { continue };
        if let Ok(cache) = EmbeddingCache::open(owner_dir, &description.identity, description.dimension) {
            caches.push(cache);
        }
    }
    caches
}

impl EmbeddingCache {
    /// Opens the cache of `owner_dir` of vectors made the way `identity` (an
    /// [`EmbeddingIdentity::canonical`] text) describes, for reading and appending.
    pub fn open(owner_dir: &Path, identity: &str, dimension: usize) -> Result<Self, EmbedError> {
        let path =
            DataDir::embedding_cache(owner_dir).join(format!("{}.vectors", &sha256_hex(identity.as_bytes())[..16]));
        let mut cache =
            Self { path, identity: identity.to_owned(), dimension, map: None, records: HashMap::new(), file: None };
        match std::fs::File::open(&cache.path) {
            Ok(file) => cache.map_records(&file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EmbedError::Io { path: cache.path, source: e }),
        }
        Ok(cache)
    }

    /// What made the vectors (an [`EmbeddingIdentity::canonical`] text).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// How many images have a vector here.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Values per vector.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Whether no image has a vector here.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether the image of SHA-256 `sha256` (hex digits) has a vector here.
    pub fn contains(&self, sha256: &str) -> bool {
        sha_bytes(sha256.as_bytes()).is_some_and(|sha| self.records.contains_key(&sha))
    }

    /// The vector of the image of SHA-256 `sha256` (hex digits).
    pub fn get(&self, sha256: &str) -> Option<&[f32]> {
        let record = *self.records.get(&sha_bytes(sha256.as_bytes())?)?;
        Some(self.row(record))
    }

    fn record_len(&self) -> usize {
        SHA_LEN + self.dimension * 4
    }

    fn row(&self, record: u32) -> &[f32] {
        let start = record as usize * self.record_len() + SHA_LEN;
        let bytes = &self.map.as_deref().unwrap_or_default()[start..start + self.dimension * 4];
        // Records are a multiple of 4 bytes long and the map is page-aligned.
        bytemuck::cast_slice(bytes)
    }

    /// Maps `file` again (it has grown); the map is `None` while it holds no complete
    /// record.
    fn remap(&mut self, file: &std::fs::File) -> Result<(), EmbedError> {
        let len = file.metadata().map_err(io_error(&self.path))?.len() as usize;
        if len < self.record_len() {
            return Ok(());
        }
        // SAFETY: cache files are only appended to (by the one run holding the lock on
        // their folder), and only a torn tail past the complete records is ever cut off.
        self.map = Some(unsafe { Mmap::map(file) }.map_err(io_error(&self.path))?);
        Ok(())
    }

    /// Maps `file` and indexes its complete records; a record cut short by a kill is
    /// left out.
    fn map_records(&mut self, file: &std::fs::File) -> Result<(), EmbedError> {
        self.remap(file)?;
        let record_len = self.record_len();
        let Some(map) = &self.map else { return Ok(()) };
        for record in 0..map.len() / record_len {
            if let Some(sha) = sha_bytes(&map[record * record_len..record * record_len + SHA_LEN]) {
                self.records.insert(sha, record as u32);
            }
        }
        Ok(())
    }

    /// Appends new rows (`f32` vectors as stored, by image SHA-256) and flushes them
    /// before returning; they can be read back at once.
    pub fn append(&mut self, rows: &[(&str, &[u8])]) -> Result<(), EmbedError> {
        if rows.is_empty() {
            return Ok(());
        }
        let record_len = self.record_len();
        let file = match self.file.take() {
            Some(file) => file,
            None => {
                let dir = self.path.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(dir).map_err(io_error(dir))?;
                let file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(&self.path);
                let file = file.map_err(io_error(&self.path))?;
                let description = self.path.with_extension("json");
                if !description.exists() {
                    let what = CacheDescription { identity: self.identity.clone(), dimension: self.dimension };
                    picseek_manifest::write_json_atomic(&description, &what)?;
                }
                // A record left short by a killed run would misalign every later one.
                let len = file.metadata().map_err(io_error(&self.path))?.len();
                if len % record_len as u64 != 0 {
                    file.set_len(len - len % record_len as u64).map_err(io_error(&self.path))?;
                }
                file
            }
        };
        let from = self.map.as_ref().map_or(0, |m| m.len() / record_len);
        let mut bytes = Vec::with_capacity(rows.len() * record_len);
        for (sha, row) in rows {
            bytes.extend_from_slice(sha.as_bytes());
            bytes.extend_from_slice(row);
        }
        let mut writer = &file;
        writer.write_all(&bytes).and_then(|()| writer.flush()).map_err(io_error(&self.path))?;
        // Indexed from what was written, not read back: the new pages stay unread.
        self.remap(&file)?;
        for (number, (sha, _)) in rows.iter().enumerate() {
            if let Some(sha) = sha_bytes(sha.as_bytes()) {
                self.records.insert(sha, (from + number) as u32);
            }
        }
        self.file = Some(file);
        Ok(())
    }

    /// Appends the vectors of `other` (a shard's cache, of the same identity) that this
    /// cache lacks, in `other`'s order, a bounded number at a time; returns how many.
    pub fn absorb(&mut self, other: &EmbeddingCache) -> Result<usize, EmbedError> {
        let mut wanted: Vec<(u32, String)> = other
            .records
            .iter()
            .filter(|(sha, _)| !self.records.contains_key(*sha))
            .map(|(sha, &record)| (record, hex::encode(sha)))
            .collect();
        wanted.sort_unstable();
        for chunk in wanted.chunks(ABSORB_CHUNK) {
            let rows: Vec<(&str, &[u8])> =
                chunk.iter().map(|(record, sha)| (sha.as_str(), bytemuck::cast_slice(other.row(*record)))).collect();
            self.append(&rows)?;
        }
        Ok(wanted.len())
    }
}

/// CLIP vectors of images through an [`EmbeddingCache`], for stages before `index`
/// (clean's `--dedup clip`): what is cached is not embedded again, and what is embedded
/// here is not embedded again by `index` when it shares the cache's folder.
pub struct CachedClipEmbedder {
    embedder: ClipEmbedder,
    cache: EmbeddingCache,
}

impl CachedClipEmbedder {
    /// Loads the model of `options` and opens its cache in `owner_dir`.
    pub fn open(owner_dir: &Path, options: &ModelOptions, max_decode_bytes: u64) -> Result<Self, EmbedError> {
        let embedder = ClipEmbedder::load(options, max_decode_bytes)?;
        let identity = EmbeddingIdentity::new(EmbedderKind::Clip, Some(embedder.model()), &embedder.preprocessing());
        let cache = EmbeddingCache::open(owner_dir, &identity.canonical(), embedder.dimension())?;
        Ok(Self { embedder, cache })
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
            .map(|((path, bytes), sha)| (!self.cache.contains(sha)).then(|| self.embedder.prepare(path, bytes)))
            .collect();
        let inputs: Vec<Vec<f32>> = prepared.iter().filter_map(|p| p.as_ref()?.as_ref().ok().cloned()).collect();
        let mut embedded =
            if inputs.is_empty() { Vec::new() } else { self.embedder.embed_prepared(&inputs)? }.into_iter();
        let mut new_rows: Vec<(&str, Vec<f32>)> = Vec::new();
        let mut out = Vec::with_capacity(images.len());
        for (sha, prepared) in shas.iter().zip(prepared) {
            out.push(match prepared {
                None => Ok(self.cache.get(sha).unwrap_or_default().to_vec()),
                Some(Err(e)) => Err(e),
                Some(Ok(_)) => {
                    let vector = embedded.next().unwrap_or_default();
                    new_rows.push((sha, vector.clone()));
                    Ok(vector)
                }
            });
        }
        let bytes: Vec<(&str, &[u8])> = new_rows.iter().map(|(sha, v)| (*sha, bytemuck::cast_slice(v))).collect();
        self.cache.append(&bytes)?;
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
        let mut cache = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert!(cache.is_empty());
        let (a, b) = (row([1.0, 2.0]), row([3.0, 4.0]));
        cache.append(&[(&sha('a'), &a)]).unwrap();
        assert_eq!(cache.get(&sha('a')), Some(&[1.0, 2.0][..]), "readable at once");
        cache.append(&[(&sha('b'), &b)]).unwrap();
        let cached = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!(cached.len(), 2);
        assert_eq!(cached.get(&sha('b')), Some(&[3.0, 4.0][..]));
        assert!(cached.contains(&sha('a')) && !cached.contains(&sha('c')) && !cached.contains("not hex"));
        // Another identity is another file.
        assert!(EmbeddingCache::open(dir.path(), "other identity", DIM).unwrap().is_empty());
    }

    #[test]
    fn a_torn_last_record_is_ignored_and_cut_off_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        cache.append(&[(&sha('a'), &row([1.0, 2.0]))]).unwrap();
        // A kill in the middle of the next record: its SHA and half its row.
        let path = cache.path.clone();
        let mut torn = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        torn.write_all(sha('b').as_bytes()).unwrap();
        torn.write_all(&row([5.0, 6.0])[..4]).unwrap();
        drop(torn);

        let mut cache = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!((cache.len(), cache.contains(&sha('b'))), (1, false));
        cache.append(&[(&sha('c'), &row([7.0, 8.0]))]).unwrap();
        assert_eq!(cache.get(&sha('c')), Some(&[7.0, 8.0][..]));
        let cached = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!(cached.len(), 2, "the record after the torn one is aligned");
        assert_eq!(cached.get(&sha('c')), Some(&[7.0, 8.0][..]));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * (SHA_LEN + DIM * 4) as u64);
    }

    #[test]
    fn a_cache_killed_mid_append_by_another_process_reads_what_was_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        let shas: Vec<String> = ('a'..='f').map(sha).collect();
        let rows: Vec<Vec<u8>> = (0..6).map(|i| row([i as f32, -(i as f32)])).collect();
        let batch: Vec<(&str, &[u8])> = shas.iter().map(String::as_str).zip(rows.iter().map(Vec::as_slice)).collect();
        cache.append(&batch).unwrap();
        // The kill: the file ends 5 bytes into the fourth record.
        let record = (SHA_LEN + DIM * 4) as u64;
        std::fs::OpenOptions::new().write(true).open(&cache.path).unwrap().set_len(3 * record + 5).unwrap();
        let reopened = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!(reopened.len(), 3);
        assert_eq!(reopened.get(&sha('c')), Some(&[2.0, -2.0][..]));
        assert!(!reopened.contains(&sha('d')));
    }

    #[test]
    fn shards_absorbed_hold_every_vector_once() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        let mut first = EmbeddingCache::open(&one, "identity", DIM).unwrap();
        first.append(&[(&sha('a'), &row([1.0, 1.0])), (&sha('b'), &row([2.0, 2.0]))]).unwrap();
        let mut second = EmbeddingCache::open(&two, "identity", DIM).unwrap();
        second.append(&[(&sha('b'), &row([2.0, 2.0])), (&sha('c'), &row([3.0, 3.0]))]).unwrap();
        let mut main = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!(main.absorb(&first).unwrap(), 2);
        assert_eq!(main.absorb(&second).unwrap(), 1, "b is there already");
        assert_eq!(main.absorb(&second).unwrap(), 0);
        let merged = EmbeddingCache::open(dir.path(), "identity", DIM).unwrap();
        assert_eq!(merged.len(), 3);
        assert_eq!(merged.get(&sha('c')), Some(&[3.0, 3.0][..]));
        assert_eq!(std::fs::metadata(&merged.path).unwrap().len(), 3 * (SHA_LEN + DIM * 4) as u64);
    }
}
